/**
 * A BIRD control-socket client that stays connected (the RR's route probe asks one protocol at a time, many
 * times a second: a birdc process per question would cost more than the answer). Replies are turned into the
 * text birdc prints, so the birdc parsers read them unchanged.
 */
import * as net from 'node:net';

/** A word of a command: names and keywords only (no spaces, quotes or line breaks reach BIRD's parser). */
const WORD = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** One reply line as birdc prints it: `NNNN-text`/`NNNN text` → text (code 0000 prints nothing), ` text` → text. */
export function birdReplyLine(line: string): { text?: string; code?: number; last: boolean } {
  const m = /^(\d{4})([ -])(.*)$/.exec(line);
  if (m) {
    const code = Number(m[1]);
    return { ...(code ? { text: m[3] } : {}), code, last: m[2] === ' ' };
  }
  if (line.startsWith(' ')) return { text: line.slice(1), last: false };
  return { text: line, last: false };
}

export class BirdControlError extends Error {}

/** BIRD closed its reply with an error code (8xxx runtime, 9xxx parse), e.g. no such protocol; or a word no BIRD name can be. */
export class BirdReplyError extends BirdControlError {}

interface Pending {
  resolve: (s: string) => void;
  reject: (e: Error) => void;
  out: string[];
  timer: NodeJS.Timeout;
}

export class BirdControl {
  private sock?: net.Socket;
  private connecting?: Promise<void>;
  private buf = '';
  private greeted = false;
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /** One command, serialised behind the others; rejects on a BIRD error reply or a lost socket. */
  cmd(...words: string[]): Promise<string> {
    const bad = words.find((w) => !WORD.test(w));
    if (bad !== undefined) return Promise.reject(new BirdReplyError(`bad BIRD command word ${JSON.stringify(bad)}`));
    const next = this.queue.then(() => this.send(words.join(' ')));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.drop(new BirdControlError('BIRD control client closed'));
  }

  private async send(line: string): Promise<string> {
    if (!this.sock || !this.greeted) await (this.connecting ??= this.connect().finally(() => (this.connecting = undefined)));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => this.drop(new BirdControlError(`BIRD did not answer ${JSON.stringify(line)} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.pending = { resolve, reject, out: [], timer };
      this.sock!.write(line + '\n');
    });
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buf = '';
      this.greeted = false;
      const s = net.createConnection(this.socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new BirdControlError(`no greeting from BIRD on ${this.socketPath}`));
      }, this.timeoutMs);
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        this.buf += d;
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          if (!this.greeted) {
            // 0001 BIRD … ready.
            this.greeted = true;
            clearTimeout(timer);
            resolve();
            continue;
          }
          this.onLine(line);
        }
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        this.drop(e);
        reject(e);
      });
      s.once('close', () => this.drop(new BirdControlError('BIRD control socket closed')));
      this.sock = s;
    });
  }

  private onLine(line: string): void {
    const p = this.pending;
    if (!p) return;
    const r = birdReplyLine(line);
    if (r.text !== undefined) p.out.push(r.text);
    if (!r.last) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    // Only the closing code counts, as for birdc: `reload in all` lists `8006-fabric_rtr: reload failed` (RTR
    // protocols cannot reload) among the nodes it reloaded, then closes with 0000.
    if (r.code !== undefined && r.code >= 8000) p.reject(new BirdReplyError(`BIRD: ${r.code} ${r.text ?? ''}`));
    else p.resolve(p.out.join('\n') + '\n');
  }

  private drop(e: Error): void {
    const s = this.sock;
    this.sock = undefined;
    this.greeted = false;
    s?.destroy();
    const p = this.pending;
    this.pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }
}
