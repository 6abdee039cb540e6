/**
 * The RR agent's node parts (docs/adr/rr-split-desired-state.md): watches its cluster's keys in the RR
 * node-parts bucket (`<NS>_RR_NODES`, key `<clusterId>.<nodeId>`, value one node's `protocol bgp` block)
 * and keeps them in memory; the RR role writes them to the file its BIRD config includes. A change of one
 * key asks for one reconcile (changes within a few ms coalesce). Fail static: a lost watch keeps the last
 * parts (BIRD keeps running what it has) and is restarted; its first pass replaces the set.
 */
import { type KV, type KvWatchEntry, Kvm } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { type RrNodePartValue } from '@fabric/contracts';
import { type Nats, rrNodesBucket } from '@fabric/eventstore';
import { type FeedLog } from '../rtr/feed';

const dec = new TextDecoder();
const PROTOCOL = /^node_[a-z0-9_]{1,59}$/;

/**
 * A node part from the bucket → checked value; throws on anything else. The bucket is written by rr-config
 * only (bus permissions), still checked: one protocol block of the expected name, no include, no other statement.
 */
export function nodePartOf(value: Uint8Array): RrNodePartValue {
  const v = JSON.parse(dec.decode(value)) as Partial<RrNodePartValue>;
  if (typeof v?.protocol !== 'string' || !PROTOCOL.test(v.protocol)) throw new Error('malformed node part: protocol');
  if (!Number.isInteger(v.originTag) || (v.originTag as number) < 4200000000 || (v.originTag as number) > 4294967294)
    throw new Error('malformed node part: originTag');
  if (typeof v.bird !== 'string' || v.bird.length > 4096) throw new Error('malformed node part: bird');
  const lines = v.bird.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  if (!new RegExp(`^protocol bgp ${v.protocol} from fabric_node_v[46] \\{$`).test(lines[0] ?? '') || lines[lines.length - 1] !== '}')
    throw new Error('malformed node part: not one protocol block');
  // No include, no string across lines, no statement at the top level between the first and the last line.
  const oddQuotes = (l: string) => (l.match(/"/g)?.length ?? 0) % 2 === 1;
  if (/\binclude\b/.test(v.bird) || lines.some(oddQuotes) || lines.slice(1, -1).some((l) => /^\S/.test(l) || /^\s*\}\s*$/.test(l)))
    throw new Error('malformed node part: statement outside the block');
  // The braces close the protocol block at the last line, not before.
  let depth = 0;
  lines.forEach((l, i) => {
    for (const ch of l.replace(/"[^"]*"/g, '""')) {
      if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0 && i !== lines.length - 1) throw new Error('malformed node part: statement outside the block');
    }
  });
  if (depth !== 0) throw new Error('malformed node part: unbalanced');
  return { protocol: v.protocol, originTag: v.originTag as number, bird: v.bird };
}

export interface RrNodePartsOptions {
  nats: Nats;
  clusterId: string;
  /** Called (coalesced) after the set changed, not for the first pass. */
  onChange: () => void;
  log?: FeedLog;
  /** Coalescing of changes into one reconcile (default 5 ms). */
  batchMs?: number;
}

export class RrNodeParts {
  /** Key → part, as last seen in the bucket. */
  readonly parts = new Map<string, RrNodePartValue>();
  private kv?: KV;
  private watch?: QueuedIterator<KvWatchEntry>;
  private stopped = false;
  private loop?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private firstPass?: () => void;

  constructor(private readonly opts: RrNodePartsOptions) {}

  /** Starts the watch; resolves once the first pass is in memory. */
  async start(): Promise<void> {
    this.kv = await new Kvm(this.opts.nats.nc).open(rrNodesBucket(this.opts.nats.subjects));
    const first = new Promise<void>((r) => (this.firstPass = r));
    this.loop = this.watchForever();
    await first;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.watch?.stop();
    await this.loop?.catch(() => undefined);
  }

  /** The included file: every part, sorted by protocol (the same text on every agent of the same parts). */
  text(): string {
    return [...this.parts.values()]
      .sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0))
      .map((p) => p.bird)
      .join('\n');
  }

  private async watchForever(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce();
      } catch (e) {
        this.opts.log?.('warn', 'RR node parts watch failed, retrying', { err: String((e as Error)?.message ?? e) });
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async watchOnce(): Promise<void> {
    const w = await this.kv!.watch({ key: `${this.opts.clusterId}.>` });
    this.watch = w;
    const oc = (w as unknown as { _data: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
    let initial: Map<string, RrNodePartValue> | undefined = new Map();
    const endInitial = () => {
      const changed = initial!.size !== this.parts.size || [...initial!].some(([k, p]) => this.parts.get(k)?.bird !== p.bird);
      this.parts.clear();
      for (const [k, p] of initial!) this.parts.set(k, p);
      initial = undefined;
      if (this.firstPass) {
        this.firstPass();
        this.firstPass = undefined;
      } else if (changed) this.changed();
    };
    if ((await oc.info(true)).num_pending === 0) endInitial();
    for await (const e of w) {
      let p: RrNodePartValue | undefined;
      if (e.operation === 'PUT') {
        try {
          p = nodePartOf(e.value);
        } catch (err) {
          this.opts.log?.('warn', 'RR node part ignored', { key: e.key, err: String((err as Error).message) });
        }
      }
      const into = initial ?? this.parts;
      if (p) into.set(e.key, p);
      else into.delete(e.key);
      if (initial) {
        if (e.delta === 0 || e.isUpdate) endInitial();
      } else this.changed();
    }
  }

  private changed(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.opts.onChange();
    }, this.opts.batchMs ?? 5);
  }
}
