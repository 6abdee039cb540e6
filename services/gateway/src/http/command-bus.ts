import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RpcClient } from '@fabric/eventstore';
import { ProjectionRunner } from '@fabric/projections';
import { throwReplyError } from './errors';
import { PROJECTION_RUNNER, RPC_CLIENT } from '../tokens';

export interface RequestInfo {
  idempotencyKey?: string;
  actor?: string;
}

/**
 * Sends a command to its write service and, on success, waits until the read model includes the
 * written events, so the client can read its own write right after the response.
 */
@Injectable()
export class CommandBus {
  constructor(@Inject(RPC_CLIENT) private readonly rpc: RpcClient, @Inject(PROJECTION_RUNNER) private readonly runner: ProjectionRunner) {}

  async send<R = Record<string, unknown>>(service: 'inventory' | 'ipam', command: string, payload: object, info: RequestInfo = {}): Promise<R> {
    const commandId = info.idempotencyKey ? `idem:${service}:${command}:${info.idempotencyKey}` : randomUUID();
    const reply = await this.rpc.request<R>(service, command, { commandId, actor: info.actor ?? 'anonymous', payload });
    if (!reply.ok) throwReplyError(reply.error);
    // Generous: under load the read model may lag; the client should still read its own write.
    await this.runner.waitFor(reply.position, Number(process.env.READ_YOUR_WRITES_TIMEOUT_MS ?? 30_000));
    return reply.result;
  }
}
