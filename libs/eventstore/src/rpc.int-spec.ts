/** The command RPC over real NATS: handlers typed by command name, names resolved to own commands only. */
import { randomBytes, randomUUID } from 'node:crypto';
import { IsString, Length } from 'class-validator';
import { Nats } from './connection';
import { RpcClient, RpcServer, type CommandHandlers } from './rpc';

class Greet {
  @IsString()
  @Length(1, 20)
  name: string;
}
const COMMANDS = { Greet } as const;

describe('RpcServer', () => {
  let nats: Nats;
  let server: RpcServer<typeof COMMANDS> | undefined;
  const seen: Greet[] = [];
  const request = (command: string, payload: unknown) => new RpcClient(nats).request('inventory', command, { commandId: randomUUID(), payload });

  beforeAll(async () => {
    nats = await Nats.connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222', ns: `t${randomBytes(4).toString('hex')}` });
    const handlers: CommandHandlers<typeof COMMANDS> = {
      Greet: async (p) => {
        seen.push(p);
        return { result: { hello: p.name }, position: 7 };
      },
    };
    server = new RpcServer(nats, 'inventory', COMMANDS, handlers);
    server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await nats?.close();
  });

  it('given a valid payload, when the command is sent, then its handler gets an instance of the command class', async () => {
    expect(await request('Greet', { name: 'vm1' })).toEqual({ ok: true, result: { hello: 'vm1' }, position: 7 });
    expect(seen.at(-1)).toBeInstanceOf(Greet);
  });

  it('given an invalid payload, then 400 with the field and no handler call', async () => {
    const before = seen.length;
    expect(await request('Greet', { name: '' })).toMatchObject({
      ok: false,
      error: { status: 400, code: 'validation-failed', fields: { name: expect.any(Array) } },
    });
    expect(seen.length).toBe(before);
  });

  it('given a subject naming no command of the service (inherited properties included), then 400 unknown-command', async () => {
    for (const name of ['Nope', 'constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(await request(name, { name: 'x' })).toMatchObject({ ok: false, error: { status: 400, code: 'unknown-command' } });
    }
  });
});
