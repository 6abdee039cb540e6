/**
 * Address-seconds per owner and address over [from, to), from the `ip_usage` projection (IpAllocated /
 * IpReleased event times) and the owner intervals of floating addresses (`floating_usage`, kind `owner`). Query parsing and the arithmetic are pure so they are unit-tested; the SQL only
 * selects the holdings that overlap the window. Integer milliseconds throughout: sums stay exact.
 */
import type { DataSource, EntityManager } from 'typeorm';
import { OWNER_PATTERN } from '@fabric/contracts';

export interface UsageQuery {
  ownerId?: string;
  from: Date;
  /** Exclusive end; defaults to `asOf`. */
  to: Date;
  /** "now": where a still-held address stops counting. */
  asOf: Date;
}

export interface UsageRow {
  ownerId: string;
  ip: string;
  /** null for a floating address: it is held by its owner, not by a VM. */
  vmId: string | null;
  floatingId?: string;
  clusterId: string;
  family: number;
  allocatedAt: Date;
  releasedAt: Date | null;
}

export type FieldErrors = Record<string, string[]>;

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const ALLOWED = ['ownerId', 'from', 'to'];

/** ISO 8601 date or date-time; a time needs a zone (Z or ±hh:mm) so nobody bills in the server's local time. */
export function parseIsoTime(v: string): Date | undefined {
  const m = ISO.exec(v);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Date.parse rolls 2024-02-30 over to March: check the calendar ourselves.
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return undefined;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t);
}

export function parseUsageQuery(q: Record<string, unknown>, asOf: Date): { query: UsageQuery } | { fields: FieldErrors } {
  const fields: FieldErrors = {};
  const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
  for (const k of Object.keys(q)) {
    if (!ALLOWED.includes(k)) fields[k] = [`unknown parameter (allowed: ${ALLOWED.join(', ')})`];
    else if (typeof q[k] !== 'string') fields[k] = ['must be given once'];
  }
  const ownerId = str('ownerId');
  if (ownerId !== undefined && !OWNER_PATTERN.test(ownerId)) fields.ownerId = ['must be 1-128 characters of letters, digits and . _ : @ -'];
  let from: Date | undefined;
  if (q.from === undefined) fields.from = ['is required (ISO 8601, e.g. 2025-01-01T00:00:00Z)'];
  else if (str('from') !== undefined && !(from = parseIsoTime(str('from')!))) fields.from = ['must be an ISO 8601 date or date-time with a zone (Z or ±hh:mm)'];
  let to: Date | undefined = asOf;
  if (str('to') !== undefined && !(to = parseIsoTime(str('to')!))) fields.to = ['must be an ISO 8601 date or date-time with a zone (Z or ±hh:mm)'];
  if (from && to && !fields.to && to.getTime() <= from.getTime()) {
    if (q.to === undefined) fields.from = ['must be in the past when to is omitted (to defaults to now)'];
    else fields.to = ['must be after from'];
  }
  if (Object.keys(fields).length) return { fields };
  return { query: { ownerId, from: from!, to: to!, asOf } };
}

const iso = (d: Date) => d.toISOString();
const secs = (ms: number) => ms / 1000;

export interface UsageInterval {
  vmId: string | null;
  /** A floating address's owner interval (allocated → released, attached or not). */
  floatingId?: string;
  allocatedAt: string;
  releasedAt: string | null;
  /** The part of the holding inside the window. */
  start: string;
  end: string;
  seconds: number;
}
export interface AddressUsage {
  clusterId: string;
  ip: string;
  family: number;
  addressSeconds: number;
  intervals: UsageInterval[];
}
export interface OwnerUsage {
  ownerId: string;
  addressSeconds: number;
  addresses: AddressUsage[];
}
export interface UsageReport {
  from: string;
  to: string;
  asOf: string;
  ownerId: string | null;
  unit: 'address-seconds';
  owners: OwnerUsage[];
  totals: { owners: number; addresses: number; intervals: number; addressSeconds: number; byFamily: { '4': number; '6': number } };
}

/** Sums each holding's overlap with [from, to); a holding not yet released counts up to min(to, asOf). */
export function computeUsage(rows: UsageRow[], q: UsageQuery): UsageReport {
  const from = q.from.getTime();
  const to = q.to.getTime();
  const owners = new Map<string, { ms: number; addresses: Map<string, { a: Omit<AddressUsage, 'addressSeconds'>; ms: number }> }>();
  const byFamily = { '4': 0, '6': 0 };
  let total = 0;
  let intervals = 0;
  for (const r of rows) {
    if (q.ownerId !== undefined && r.ownerId !== q.ownerId) continue;
    const start = Math.max(from, r.allocatedAt.getTime());
    const end = Math.min(to, r.releasedAt ? r.releasedAt.getTime() : q.asOf.getTime());
    if (end <= start) continue;
    const ms = end - start;
    const o = owners.get(r.ownerId) ?? { ms: 0, addresses: new Map() };
    owners.set(r.ownerId, o);
    const key = `${r.clusterId}/${r.ip}`;
    const a = o.addresses.get(key) ?? { a: { clusterId: r.clusterId, ip: r.ip, family: r.family, intervals: [] }, ms: 0 };
    o.addresses.set(key, a);
    a.a.intervals.push({
      vmId: r.vmId,
      ...(r.floatingId ? { floatingId: r.floatingId } : {}),
      allocatedAt: iso(r.allocatedAt),
      releasedAt: r.releasedAt ? iso(r.releasedAt) : null,
      start: iso(new Date(start)),
      end: iso(new Date(end)),
      seconds: secs(ms),
    });
    a.ms += ms;
    o.ms += ms;
    total += ms;
    intervals++;
    byFamily[r.family === 6 ? '6' : '4'] += ms;
  }
  const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  const list: OwnerUsage[] = [...owners.entries()]
    .sort(([x], [y]) => byText(x, y))
    .map(([ownerId, o]) => ({
      ownerId,
      addressSeconds: secs(o.ms),
      addresses: [...o.addresses.values()]
        .sort((x, y) => byText(x.a.clusterId, y.a.clusterId) || byText(x.a.ip, y.a.ip))
        .map(({ a, ms }) => ({
          ...a,
          addressSeconds: secs(ms),
          intervals: a.intervals.sort((x, y) => byText(x.allocatedAt, y.allocatedAt) || byText(x.vmId ?? '', y.vmId ?? '')),
        })),
    }));
  return {
    from: iso(q.from),
    to: iso(q.to),
    asOf: iso(q.asOf),
    ownerId: q.ownerId ?? null,
    unit: 'address-seconds',
    owners: list,
    totals: {
      owners: list.length,
      addresses: list.reduce((n, o) => n + o.addresses.length, 0),
      intervals,
      addressSeconds: secs(total),
      byFamily: { '4': secs(byFamily['4']), '6': secs(byFamily['6']) },
    },
  };
}

/** Reads the holdings overlapping the window from `schema` (the live read model or a rebuilt one). */
export async function queryUsage(db: DataSource | EntityManager, schema: string, q: UsageQuery): Promise<UsageReport> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const params: unknown[] = [q.to, q.from];
  let where = `allocated_at < $1 AND (released_at IS NULL OR released_at > $2)`;
  if (q.ownerId !== undefined) {
    params.push(q.ownerId);
    where += ` AND owner_id = $3`;
  }
  const raw: { owner_id: string; ip: string; vm_id: string; cluster_id: string; family: number; allocated_at: Date; released_at: Date | null }[] =
    await db.query(`SELECT owner_id, ip, vm_id, cluster_id, family, allocated_at, released_at FROM "${schema}"."ip_usage" WHERE ${where}`, params);
  const rows: UsageRow[] = raw.map((r) => ({
    ownerId: r.owner_id,
    ip: r.ip,
    vmId: r.vm_id,
    clusterId: r.cluster_id,
    family: Number(r.family),
    allocatedAt: new Date(r.allocated_at),
    releasedAt: r.released_at ? new Date(r.released_at) : null,
  }));
  const floating: { owner_id: string; ip: string; floating_id: string; cluster_id: string; started_at: Date; ended_at: Date | null }[] = await db.query(
    `SELECT owner_id, ip, floating_id, cluster_id, started_at, ended_at FROM "${schema}"."floating_usage"
     WHERE kind = 'owner' AND ${where.replace('allocated_at', 'started_at').replace(/released_at/g, 'ended_at')}`,
    params,
  );
  for (const r of floating)
    rows.push({
      ownerId: r.owner_id,
      ip: r.ip,
      vmId: null,
      floatingId: r.floating_id,
      clusterId: r.cluster_id,
      family: r.ip.includes(':') ? 6 : 4,
      allocatedAt: new Date(r.started_at),
      releasedAt: r.ended_at ? new Date(r.ended_at) : null,
    });
  return computeUsage(rows, q);
}
