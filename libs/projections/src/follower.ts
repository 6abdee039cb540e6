/**
 * The read model's position as a gateway sees it when the projector runs in its own process
 * (`services/projector`): the projector's runner sends `pg_notify` with its new checkpoint inside each batch's
 * transaction (delivered at commit, so never ahead of the rows), and this follower LISTENs for it. A poll of the
 * checkpoint row (every `pollMs`) covers notifications lost while the listening connection was down.
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { type DataSource } from 'typeorm';
import { PositionWatch, type ReadModelPosition } from './position';

/** Notification channel of the projections of a schema (identifiers are at most 63 bytes). */
export function positionChannel(schema: string): string {
  const c = `fabric_projection_${schema}`;
  return c.length <= 63 ? c : `fabric_projection_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}

export interface FollowerOptions {
  /** Checkpoint row followed (default `read-model`). */
  name?: string;
  pollMs?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export class CheckpointFollower implements ReadModelPosition {
  readonly name: string;
  private readonly watch = new PositionWatch();
  private client?: Client;
  private poll?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly ds: DataSource,
    private readonly opts: FollowerOptions = {},
  ) {
    this.name = opts.name ?? 'read-model';
  }

  private get schema(): string {
    return (this.ds.options as { schema: string }).schema;
  }

  get currentPosition(): number {
    return this.watch.position;
  }

  waitFor(seq: number, timeoutMs = 5000): Promise<boolean> {
    return this.watch.waitFor(seq, timeoutMs);
  }

  async start(): Promise<void> {
    await this.listen();
    await this.read();
    this.poll = setInterval(() => void this.read().catch(() => undefined), this.opts.pollMs ?? 1000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    clearTimeout(this.reconnect);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  /** The checkpoint as stored (also after a reconnect: notifications sent meanwhile are lost). */
  private async read(): Promise<void> {
    const rows: { position: string }[] = await this.ds.query(`SELECT position FROM "${this.schema}"."projection_checkpoints" WHERE name = $1`, [this.name]);
    if (rows[0]) this.watch.advance(Number(rows[0].position));
  }

  private async listen(): Promise<void> {
    const url = (this.ds.options as { url?: string }).url;
    const client = new Client({ connectionString: url, application_name: 'projection-follower' });
    let lost = false;
    const onLost = (err: unknown) => {
      if (lost) return;
      lost = true;
      void client.end().catch(() => undefined);
      if (this.stopped || this.client !== client) return;
      this.client = undefined;
      this.opts.log?.('read-model position listener lost; reconnecting (the poll keeps the position meanwhile)', { err: String(err) });
      this.relisten();
    };
    client.on('error', onLost);
    client.on('end', () => onLost('connection ended'));
    client.on('notification', (n) => {
      const i = n.payload?.lastIndexOf(':') ?? -1;
      if (i < 0 || n.payload!.slice(0, i) !== this.name) return;
      const pos = Number(n.payload!.slice(i + 1));
      if (Number.isSafeInteger(pos)) this.watch.advance(pos);
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${positionChannel(this.schema)}"`);
    } catch (err) {
      lost = true;
      if (this.client === client) this.client = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private relisten(): void {
    this.reconnect = setTimeout(() => {
      if (this.stopped) return;
      void this.listen().then(
        () => this.read().catch(() => undefined),
        () => this.relisten(),
      );
    }, 1000);
  }
}
