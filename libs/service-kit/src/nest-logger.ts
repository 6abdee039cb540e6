/** Nest's own log output (bootstrap, route mapping, exceptions) as pino JSON lines with the trace id. */
import type { LoggerService, LogLevel } from '@nestjs/common';
import { createLogger, type Logger } from './logger';

export class PinoNestLogger implements LoggerService {
  private readonly pino: Logger;
  private readonly levels: Set<LogLevel>;

  /** `levels`: the Nest levels let through (Nest's route mapping at 'log' is noisy for the gateway). */
  constructor(service: string | Logger, levels: LogLevel[] = ['fatal', 'error', 'warn', 'log']) {
    this.pino = typeof service === 'string' ? createLogger(service) : service;
    this.levels = new Set(process.env.LOG_LEVEL === 'debug' ? [...levels, 'log', 'debug', 'verbose'] : levels);
  }

  private write(level: LogLevel, pinoLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', message: unknown, params: unknown[]) {
    if (!this.levels.has(level)) return;
    // Nest passes the context last; errors pass a stack before it.
    const context = typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const stack = typeof params[0] === 'string' && (params[0] as string).includes('\n    at ') ? (params.shift() as string) : undefined;
    const extra: Record<string, unknown> = { ...(context ? { context } : {}), ...(stack ? { stack } : {}) };
    if (message instanceof Error) this.pino[pinoLevel]({ ...extra, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.pino[pinoLevel]({ ...extra, ...(message as object) });
    else this.pino[pinoLevel](extra, String(message));
  }

  log(message: unknown, ...params: unknown[]) {
    this.write('log', 'info', message, params);
  }
  error(message: unknown, ...params: unknown[]) {
    this.write('error', 'error', message, params);
  }
  warn(message: unknown, ...params: unknown[]) {
    this.write('warn', 'warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]) {
    this.write('debug', 'debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]) {
    this.write('verbose', 'trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]) {
    this.write('fatal', 'fatal', message, params);
  }
}
