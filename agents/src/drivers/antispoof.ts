/**
 * Source-address anti-spoofing on a node: a packet that enters on a VM interface (`<prefix>*`) is dropped unless
 * the node's route back to its source leaves through that same interface — the VM's own /32 or /128 (and the
 * interface's link-local block for IPv6 neighbour discovery). A VM cannot send with another customer's address
 * or any address it does not hold. One nftables table (inet: both families, reverse-path lookup by `fib`) for all
 * VMs, so a VM added or removed changes nothing here. Unspecified-source IPv6 (duplicate address detection) passes.
 *
 * Pure part: the ruleset and the check of what `nft -j list table` shows. AntispoofDriver applies it.
 */
import { runInNetns } from './exec';

export const ANTISPOOF_TABLE = 'ip_fabric_antispoof';
const CHAIN = 'prerouting';
const RULE_DAD = 'dad';
const RULE_DROP = 'spoofed-source';

function checkPrefix(ifPrefix: string): void {
  // It goes into an nft string literal: letters and digits only.
  if (!/^[a-z][a-z0-9]{0,7}$/.test(ifPrefix)) throw new Error(`invalid interface prefix: ${JSON.stringify(ifPrefix)}`);
}

/** The whole table, replaced atomically by one `nft -f` transaction (created empty first so the delete never fails). */
export function renderAntispoof(ifPrefix: string): string {
  checkPrefix(ifPrefix);
  const vm = `iifname "${ifPrefix}*"`;
  return [
    `table inet ${ANTISPOOF_TABLE}`,
    `delete table inet ${ANTISPOOF_TABLE}`,
    `table inet ${ANTISPOOF_TABLE} {`,
    `  comment "ip-fabric: VMs send only from their own addresses"`,
    `  chain ${CHAIN} {`,
    `    type filter hook prerouting priority raw; policy accept;`,
    `    ${vm} ip6 saddr :: return comment "${RULE_DAD}"`,
    `    ${vm} fib saddr . iif oif missing counter drop comment "${RULE_DROP}"`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

interface NftObject {
  chain?: { table?: string; name?: string; hook?: string; prio?: number; policy?: string; type?: string };
  rule?: { table?: string; chain?: string; comment?: string; expr?: unknown[] };
}

const matchOn = (expr: unknown[] | undefined, key: string, right: unknown) =>
  (expr ?? []).some((e) => {
    const m = (e as { match?: { left?: Record<string, unknown>; right?: unknown; op?: string } }).match;
    return m?.op === '==' && m.left !== undefined && key in m.left && JSON.stringify(m.right) === JSON.stringify(right);
  });
const has = (expr: unknown[] | undefined, verdict: string) => (expr ?? []).some((e) => typeof e === 'object' && e !== null && verdict in e);

/**
 * Whether `nft -j list table inet ip_fabric_antispoof` shows exactly the rules renderAntispoof writes (anything
 * else — a rule removed, changed or added, another hook or policy — is drift, repaired by writing the table again).
 */
export function antispoofInPlace(listing: unknown, ifPrefix: string): boolean {
  checkPrefix(ifPrefix);
  const items = ((listing as { nftables?: NftObject[] })?.nftables ?? []).filter((o) => o.chain || o.rule);
  const chains = items.filter((o) => o.chain).map((o) => o.chain!);
  if (chains.length !== 1) return false;
  const c = chains[0];
  if (c.name !== CHAIN || c.hook !== 'prerouting' || c.prio !== -300 || c.policy !== 'accept' || c.type !== 'filter') return false;
  const rules = items.filter((o) => o.rule).map((o) => o.rule!);
  if (rules.length !== 2) return false;
  const [dad, drop] = rules;
  const vm = `${ifPrefix}*`;
  return (
    dad.comment === RULE_DAD &&
    matchOn(dad.expr, 'meta', vm) &&
    matchOn(dad.expr, 'payload', '::') &&
    has(dad.expr, 'return') &&
    drop.comment === RULE_DROP &&
    matchOn(drop.expr, 'meta', vm) &&
    matchOn(drop.expr, 'fib', false) &&
    has(drop.expr, 'drop')
  );
}

/** Packets dropped so far (the drop rule's counter), from the same listing; undefined when the rule is absent. */
export function antispoofDrops(listing: unknown): number | undefined {
  for (const o of (listing as { nftables?: NftObject[] })?.nftables ?? []) {
    if (o.rule?.comment !== RULE_DROP) continue;
    for (const e of o.rule.expr ?? []) {
      const c = (e as { counter?: { packets?: number } }).counter;
      if (c && typeof c.packets === 'number') return c.packets;
    }
  }
  return undefined;
}

const NO_NFT = 'nft not found: the node agent needs nftables for VM anti-spoofing (apt-get install nftables), or --no-antispoof';

/** Applies the table in a node's namespace and repairs drift; checks at most every `recheckMs` once in place. */
export class AntispoofDriver {
  private verifiedAt = -Infinity;

  constructor(private readonly opts: { namespace?: string; ifPrefix: string; recheckMs?: number }) {
    checkPrefix(opts.ifPrefix);
  }

  private async list(): Promise<unknown> {
    const r = await runInNetns(this.opts.namespace, 'nft', ['-j', 'list', 'table', 'inet', ANTISPOOF_TABLE], { allowFailure: true }).catch(
      (e: Error & { code?: unknown }) => {
        throw e.code === 'ENOENT' ? new Error(NO_NFT) : e;
      },
    );
    if (r.code === 0) return JSON.parse(r.stdout);
    // `ip netns exec` reports a missing program itself.
    if (/exec of "nft" failed/.test(r.stderr)) throw new Error(NO_NFT);
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new Error(`nft list table inet ${ANTISPOOF_TABLE} failed: ${r.stderr.trim().slice(0, 500)}`);
  }

  /** The operations done (none when the table was in place or checked recently). */
  async reconcile(): Promise<string[]> {
    const now = performance.now();
    if (now - this.verifiedAt < (this.opts.recheckMs ?? 30_000)) return [];
    const listing = await this.list();
    if (listing !== undefined && antispoofInPlace(listing, this.opts.ifPrefix)) {
      this.verifiedAt = now;
      return [];
    }
    await runInNetns(this.opts.namespace, 'nft', ['-f', '-'], { input: renderAntispoof(this.opts.ifPrefix) });
    this.verifiedAt = now;
    return [
      `nft: ${listing === undefined ? 'created' : 'repaired'} table inet ${ANTISPOOF_TABLE} (VMs on ${this.opts.ifPrefix}* send only from their own addresses)`,
    ];
  }
}
