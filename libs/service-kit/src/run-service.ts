import { createLogger } from './logger';
import { startMetricsServer } from './metrics';

/**
 * The `main` of every service process: metrics server (when METRICS_PORT is set), start, close cleanly on
 * SIGTERM/SIGINT, and a fatal log + exit 1 when it cannot start.
 */
export function runService<S extends { close(): Promise<unknown> }>(name: string, start: () => Promise<S>, onStarted?: (s: S) => void): void {
  const log = createLogger(name);
  void startMetricsServer({ log })
    .then(start)
    .then((s) => {
      onStarted?.(s);
      const stop = () => void s.close().finally(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    })
    .catch((err) => {
      log.fatal({ err }, `${name} failed to start`);
      process.exit(1);
    });
}
