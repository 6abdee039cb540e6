import { readFileSync } from 'node:fs';
import path from 'node:path';
import { antispoofDrops, antispoofInPlace, renderAntispoof } from './antispoof';

// Captured from nftables 1.0.6: `nft -j list table inet ip_fabric_antispoof` after `nft -f` of renderAntispoof('vm').
const listing = () => JSON.parse(readFileSync(path.join(__dirname, '__fixtures__', 'nft-antispoof.json'), 'utf8'));
type Listing = { nftables: Record<string, Record<string, unknown>>[] };

describe('VM anti-spoofing ruleset', () => {
  it('given the VM interface prefix, renders one atomic replacement of the table with the reverse-path drop', () => {
    const text = renderAntispoof('vm');
    expect(text.split('\n').slice(0, 3)).toEqual([
      'table inet ip_fabric_antispoof',
      'delete table inet ip_fabric_antispoof',
      'table inet ip_fabric_antispoof {',
    ]);
    expect(text).toContain('type filter hook prerouting priority raw; policy accept;');
    expect(text).toContain('iifname "vm*" fib saddr . iif oif missing counter drop');
    expect(text).toContain('iifname "vm*" ip6 saddr :: return');
  });

  it('refuses a prefix that could leave the nft string', () => {
    for (const bad of ['', 'vm"', 'v m', 'vm*', 'VM', 'averyverylongprefix']) expect(() => renderAntispoof(bad)).toThrow(/invalid interface prefix/);
  });

  it('given the listing nft prints for what it wrote, finds it in place and reads the drop counter', () => {
    expect(antispoofInPlace(listing(), 'vm')).toBe(true);
    expect(antispoofDrops(listing())).toBe(0);
  });

  it('given a listing for another prefix, a missing rule, an extra rule or another policy, sees drift', () => {
    expect(antispoofInPlace(listing(), 'tap')).toBe(false);
    const noDrop = listing() as Listing;
    noDrop.nftables = noDrop.nftables.filter((o) => !(o.rule && o.rule.comment === 'spoofed-source'));
    expect(antispoofInPlace(noDrop, 'vm')).toBe(false);
    const extra = listing() as Listing;
    extra.nftables.push({ rule: { chain: 'prerouting', comment: 'operator', expr: [{ accept: null }] } });
    expect(antispoofInPlace(extra, 'vm')).toBe(false);
    const policy = listing() as Listing;
    for (const o of policy.nftables) if (o.chain) o.chain.policy = 'drop';
    expect(antispoofInPlace(policy, 'vm')).toBe(false);
    const accepts = listing() as Listing;
    for (const o of accepts.nftables)
      if (o.rule?.comment === 'spoofed-source') o.rule.expr = (o.rule.expr as object[]).map((e) => ('drop' in e ? { accept: null } : e));
    expect(antispoofInPlace(accepts, 'vm')).toBe(false);
    expect(antispoofInPlace({}, 'vm')).toBe(false);
  });
});
