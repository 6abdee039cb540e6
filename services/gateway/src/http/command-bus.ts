import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RpcClient } from '@fabric/eventstore';
import type { ReadModelPosition } from '@fabric/projections';
import { throwReplyError } from './errors';
import { DATA_SOURCE, PROJECTION_RUNNER, RPC_CLIENT } from '../tokens';
import { DataSource } from 'typeorm';
import { IdempotencyClaim, IdempotencyKeys, idempotentCommandId } from './idempotency';

export interface RequestInfo {
  idempotency?: IdempotencyClaim;
  actor?: string;
}

const readYourWritesMs = () => Number(process.env.READ_YOUR_WRITES_TIMEOUT_MS ?? 30_000);

/**
 * Sends a command to its write service. By default it then waits until the read model includes the
 * written events, so the client can read its own write right after the response. Accepted-only
 * commands (202, e.g. VM creation) skip the wait and record the position instead: a read of that
 * resource waits for it (`waitForResource`), so bursts of creations are not throttled by the projection.
 */
@Injectable()
export class CommandBus {
  private readonly pending = new Map<string, number>();

  private readonly keys: IdempotencyKeys;

  constructor(
    @Inject(RPC_CLIENT) private readonly rpc: RpcClient,
    @Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition,
    @Inject(DATA_SOURCE) ds: DataSource,
  ) {
    this.keys = new IdempotencyKeys(ds);
  }

  async send<R = Record<string, unknown>>(
    service: 'inventory' | 'ipam',
    command: string,
    payload: object,
    info: RequestInfo = {},
    opts: { acceptedResource?: (result: R) => string } = {},
  ): Promise<R> {
    if (info.idempotency) await this.keys.claim(info.idempotency);
    const commandId = info.idempotency ? idempotentCommandId(service, command, info.idempotency) : randomUUID();
    const reply = await this.rpc.request<R>(service, command, { commandId, actor: info.actor ?? 'anonymous', payload });
    if (!reply.ok) throwReplyError(reply.error);
    if (opts.acceptedResource) {
      const id = opts.acceptedResource(reply.result);
      if (this.runner.currentPosition < reply.position) {
        this.pending.set(id, reply.position);
        if (this.pending.size > 100_000) this.pending.delete(this.pending.keys().next().value as string);
      }
    } else {
      // Generous: under load the read model may lag; the client should still read its own write.
      await this.runner.waitFor(reply.position, readYourWritesMs());
    }
    return reply.result;
  }

  /**
   * Dry run of a command: the write service decides on its current state and answers the events it would
   * append. No Idempotency-Key is claimed (nothing happens, so a repeat is harmless) and nothing is waited for.
   */
  async decide<R = Record<string, unknown>>(service: 'inventory' | 'ipam', command: string, payload: object, actor?: string): Promise<R> {
    const reply = await this.rpc.request<R>(service, command, { commandId: randomUUID(), actor: actor ?? 'anonymous', payload, dryRun: true });
    if (!reply.ok) throwReplyError(reply.error);
    return reply.result;
  }

  /** Before reading a resource this gateway accepted: wait until the read model has it. */
  async waitForResource(id: string): Promise<void> {
    const position = this.pending.get(id);
    if (position === undefined) return;
    await this.runner.waitFor(position, readYourWritesMs());
    this.pending.delete(id);
  }
}
