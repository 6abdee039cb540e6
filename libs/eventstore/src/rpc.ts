/**
 * Commands to write services travel as NATS request/reply (the caller needs the verdict: 201/400/404/409).
 * Payloads are validated against the command class before any handler runs.
 */
import { headers as natsHeaders, type Msg, type Subscription } from '@nats-io/nats-core';
import { SpanKind } from '@opentelemetry/api';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { type CommandReply, type CommandRequest, DomainError } from '@fabric/contracts';
import { injectTraceHeaders, withConsumerSpan, withSpan } from '@fabric/telemetry';
import { type Nats } from './connection';

export type CommandResult = { result: Record<string, unknown>; position: number };
/** A service's command classes by command name (the last token of the RPC subject). */
export type CommandClasses = Record<string, new () => object>;
/** Handles one command, given the validated instance of its class. */
export type CommandHandler<P extends object = object> = (payload: P, req: CommandRequest) => Promise<CommandResult>;
/** One handler per command of a service, each typed by its command's class. */
export type CommandHandlers<M extends CommandClasses> = { [K in keyof M]: CommandHandler<InstanceType<M[K]>> };
/** `M` seen as a map from command name to the class of its payload (a form TypeScript can index generically). */
type CommandCtors<M extends CommandClasses> = { [K in keyof M]: new () => InstanceType<M[K]> };

export function validationFields(errors: ValidationError[], parent = ''): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of errors) {
    const path = parent ? `${parent}.${e.property}` : e.property;
    if (e.constraints) out[path] = Object.values(e.constraints);
    if (e.children?.length) Object.assign(out, validationFields(e.children, path));
  }
  return out;
}

export async function validateCommand<T extends object>(cls: new () => T, payload: unknown): Promise<T> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new DomainError(400, 'invalid-body', 'request body must be a JSON object');
  }
  const instance = plainToInstance(cls, payload);
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) throw new DomainError(400, 'validation-failed', 'request has invalid fields', validationFields(errors));
  return instance;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class RpcServer<M extends CommandClasses> {
  private sub?: Subscription;
  constructor(
    private readonly nats: Nats,
    private readonly service: 'inventory' | 'ipam',
    private readonly commands: M & CommandCtors<M>,
    private readonly handlers: CommandHandlers<M>,
    private readonly log?: (msg: string, extra?: Record<string, unknown>) => void,
  ) {}

  start(): void {
    const prefix = this.nats.subjects.rpc(this.service, 'x').slice(0, -1);
    this.sub = this.nats.nc.subscribe(this.nats.subjects.rpcAll(this.service), {
      queue: `${this.nats.subjects.ns}-${this.service}`,
      callback: (err, msg) => {
        if (err) return;
        void this.dispatch(msg.subject.slice(prefix.length), msg);
      },
    });
  }

  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
  }

  private async dispatch(name: string, msg: Msg): Promise<void> {
    let reply: CommandReply;
    try {
      const req = JSON.parse(dec.decode(msg.data)) as CommandRequest;
      req.command = name;
      // Own properties only: a subject ending in `constructor` or `toString` names no command.
      if (!this.isCommand(name)) throw new DomainError(400, 'unknown-command', `unknown command ${name}`);
      reply = await withConsumerSpan(`command ${name}`, msg.headers, { 'fabric.command': name, 'fabric.command_id': String(req.commandId) }, async () => {
        const { result, position } = await this.invoke(name, req);
        return { ok: true as const, result, position };
      });
    } catch (err) {
      if (err instanceof DomainError) {
        reply = { ok: false, error: err.toJSON() };
      } else {
        this.log?.('command failed', { name, err: String((err as Error)?.stack ?? err) });
        reply = { ok: false, error: { status: 503, code: 'internal-error', message: (err as Error)?.message ?? String(err) } };
      }
    }
    msg.respond(enc.encode(JSON.stringify(reply)));
  }

  private isCommand(name: string): name is keyof M & string {
    return Object.hasOwn(this.commands, name) && Object.hasOwn(this.handlers, name);
  }

  // Generic in the name so the class validated and the handler called are known to match.
  private async invoke<K extends keyof M>(name: K, req: CommandRequest): Promise<CommandResult> {
    const commands: CommandCtors<M> = this.commands;
    const payload = await validateCommand(commands[name], req.payload);
    return this.handlers[name](payload, req);
  }
}

export class RpcClient {
  constructor(
    private readonly nats: Nats,
    private readonly timeoutMs = 10_000,
  ) {}

  async request<R = Record<string, unknown>>(service: 'inventory' | 'ipam', command: string, req: CommandRequest): Promise<CommandReply<R>> {
    return withSpan(`send ${command}`, SpanKind.PRODUCER, { 'fabric.command': command }, async () => {
      const h = natsHeaders();
      injectTraceHeaders(h);
      try {
        const msg = await this.nats.nc.request(this.nats.subjects.rpc(service, command), enc.encode(JSON.stringify(req)), {
          timeout: this.timeoutMs,
          headers: h,
        });
        return JSON.parse(dec.decode(msg.data)) as CommandReply<R>;
      } catch (err) {
        const message = (err as Error).message;
        return { ok: false, error: { status: 503, code: 'service-unavailable', message: `${service} did not answer: ${message}` } };
      }
    });
  }
}
