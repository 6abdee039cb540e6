/** Test helper: a minimal RTR router end over a real TCP socket. */
import * as net from 'node:net';

export class Router {
  readonly pdus: Buffer[] = [];
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 8 && this.buf.length >= this.buf.readUInt32BE(4)) {
        const len = this.buf.readUInt32BE(4);
        this.pdus.push(this.buf.subarray(0, len));
        this.buf = this.buf.subarray(len);
      }
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  static async connect(port: number): Promise<Router> {
    const s = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => s.once('connect', r));
    return new Router(s);
  }
  send(hex: string | Buffer) {
    this.sock.write(typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex);
  }
  /** Waits for a PDU of this type; returns everything received up to and including it. */
  async until(type: number): Promise<Buffer[]> {
    for (;;) {
      const i = this.pdus.findIndex((p) => p.readUInt8(1) === type);
      if (i >= 0) return this.pdus.splice(0, i + 1);
      if (this.closed) throw new Error(`closed before PDU ${type}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async closedNow(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }
}

export const resetQuery = (v: number) => Buffer.from([v, 2, 0, 0, 0, 0, 0, 8]);
export const serialQuery = (v: number, session: number, serial: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt8(v, 0);
  b.writeUInt8(1, 1);
  b.writeUInt16BE(session, 2);
  b.writeUInt32BE(8 + 4, 4);
  b.writeUInt32BE(serial, 8);
  return b;
};
