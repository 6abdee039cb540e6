/**
 * Durability settings `npm start` applies (docs/operations/durability.md explains each):
 * - JetStream file storage (the streams ask for it, libs/eventstore) and, from nats-server 2.10 on,
 *   `sync_interval: always` — an fsync per write, so an acknowledged event survives power loss. 2.9.x has
 *   no such option (it fsyncs every 2 minutes; a killed process loses nothing, a power cut may).
 * - Postgres `synchronous_commit=on` for every connection of the read model: the checkpoint commits with its rows.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export function natsServerVersion(bin: string): [number, number, number] | undefined {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(`${out.stdout ?? ''}${out.stderr ?? ''}`);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** Whether this nats-server knows `jetstream { sync_interval }` (added in 2.10.0). */
export const supportsSyncInterval = (v: [number, number, number] | undefined) => !!v && (v[0] > 2 || (v[0] === 2 && v[1] >= 10));

/** The JetStream block for a server version: store dir, and fsync on every write where the server can. */
export function jetStreamConfig(storeDir: string, version: [number, number, number] | undefined): string {
  return ['jetstream {', `  store_dir: ${JSON.stringify(storeDir)}`, ...(supportsSyncInterval(version) ? ['  sync_interval: always'] : []), '}', ''].join('\n');
}

/**
 * Extra nats-server arguments for our own server: a config file carrying `sync_interval: always` when the
 * version supports it (command-line flags still win for address, port and store dir); none otherwise.
 */
export function natsDurabilityArgs(bin: string, storeDir: string): string[] {
  const version = natsServerVersion(bin);
  if (!supportsSyncInterval(version)) return [];
  const conf = path.join(path.dirname(storeDir), 'nats-durability.conf');
  writeFileSync(conf, jetStreamConfig(storeDir, version));
  return ['-c', conf];
}

/** Environment for processes that write the read model (node-postgres reads PGOPTIONS). */
export const POSTGRES_DURABILITY_ENV = { PGOPTIONS: '-c synchronous_commit=on' };
