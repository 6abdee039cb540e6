import { computeUsage, parseIsoTime, parseUsageQuery, type UsageQuery, type UsageRow } from './usage';

const T = (s: string) => new Date(s);
const row = (o: Partial<UsageRow>): UsageRow => ({
  ownerId: 'cust-1',
  ip: '203.0.113.10',
  vmId: '00000000-0000-4000-8000-000000000001',
  clusterId: '00000000-0000-4000-8000-0000000000c1',
  family: 4,
  allocatedAt: T('2025-01-01T00:00:00Z'),
  releasedAt: null,
  ...o,
});
const q = (o: Partial<UsageQuery> = {}): UsageQuery => ({
  from: T('2025-01-01T00:00:00Z'),
  to: T('2025-01-02T00:00:00Z'),
  asOf: T('2025-01-03T00:00:00Z'),
  ...o,
});

describe('parseIsoTime', () => {
  it.each(['2025-01-01', '2025-01-01T10:00Z', '2025-01-01T10:00:00Z', '2025-01-01T10:00:00.123Z', '2025-01-01T10:00:00+02:00', '2024-02-29T00:00:00Z'])(
    'accepts %s',
    (v) => {
      expect(parseIsoTime(v)).toBeInstanceOf(Date);
    },
  );
  it.each(['', 'yesterday', '2025-01-01T10:00:00', '2025-02-30', '2025-13-01', '2025-01-01T24:00:00Z', '1735689600', '2025-01-01 10:00:00Z'])(
    'refuses %j',
    (v) => {
      expect(parseIsoTime(v)).toBeUndefined();
    },
  );
  it('keeps the zone', () => expect(parseIsoTime('2025-01-01T10:00:00+02:00')!.toISOString()).toBe('2025-01-01T08:00:00.000Z'));
});

describe('parseUsageQuery', () => {
  const now = T('2025-06-01T00:00:00Z');
  it('to defaults to now; ownerId optional', () => {
    expect(parseUsageQuery({ from: '2025-05-01' }, now)).toEqual({ query: { ownerId: undefined, from: T('2025-05-01T00:00:00Z'), to: now, asOf: now } });
  });
  it('lists every bad field', () => {
    expect(parseUsageQuery({ ownerId: 'bad owner', to: 'soon', limit: '5' }, now)).toEqual({
      fields: {
        ownerId: [expect.any(String)],
        from: [expect.stringContaining('required')],
        to: [expect.stringContaining('ISO 8601')],
        limit: [expect.stringContaining('unknown parameter')],
      },
    });
  });
  it('refuses an empty or reversed window and repeated parameters', () => {
    expect(parseUsageQuery({ from: '2025-01-02T00:00:00Z', to: '2025-01-01T00:00:00Z' }, now)).toEqual({ fields: { to: ['must be after from'] } });
    expect(parseUsageQuery({ from: '2025-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z' }, now)).toEqual({ fields: { to: ['must be after from'] } });
    expect(parseUsageQuery({ from: '2025-07-01' }, now)).toEqual({ fields: { from: [expect.stringContaining('past')] } });
    expect(parseUsageQuery({ from: ['2025-01-01', '2025-01-02'] }, now)).toEqual({ fields: { from: ['must be given once'] } });
  });
});

describe('computeUsage', () => {
  it('clips holdings to [from, to): inside, straddling both ends, outside', () => {
    const r = computeUsage(
      [
        row({ vmId: 'a', allocatedAt: T('2025-01-01T01:00:00Z'), releasedAt: T('2025-01-01T02:00:00Z') }), // 3600 inside
        row({ vmId: 'b', ip: '203.0.113.11', allocatedAt: T('2024-12-31T23:00:00Z'), releasedAt: T('2025-01-01T00:00:10Z') }), // 10 before from
        row({ vmId: 'c', ip: '203.0.113.12', allocatedAt: T('2025-01-01T23:59:00Z'), releasedAt: T('2025-01-02T05:00:00Z') }), // 60 at the end
        row({ vmId: 'd', ip: '203.0.113.13', allocatedAt: T('2024-12-01T00:00:00Z'), releasedAt: T('2024-12-02T00:00:00Z') }), // outside
        row({ vmId: 'e', ip: '203.0.113.14', allocatedAt: T('2025-01-02T00:00:00Z') }), // starts exactly at to: excluded
      ],
      q(),
    );
    expect(r.owners).toHaveLength(1);
    expect(r.owners[0].addresses.map((a) => [a.ip, a.addressSeconds])).toEqual([
      ['203.0.113.10', 3600],
      ['203.0.113.11', 10],
      ['203.0.113.12', 60],
    ]);
    expect(r.totals).toEqual({ owners: 1, addresses: 3, intervals: 3, addressSeconds: 3670, byFamily: { '4': 3670, '6': 0 } });
  });

  it('a held address counts up to to, or up to now when to is later', () => {
    expect(computeUsage([row({})], q()).totals.addressSeconds).toBe(86400);
    const open = computeUsage([row({})], q({ to: T('2025-02-01T00:00:00Z'), asOf: T('2025-01-01T00:30:00Z') }));
    expect(open.totals.addressSeconds).toBe(1800);
    expect(open.owners[0].addresses[0].intervals[0]).toMatchObject({ releasedAt: null, end: '2025-01-01T00:30:00.000Z', seconds: 1800 });
  });

  it('groups per owner and address (an address reused by a second VM of the same owner), sums exactly in ms', () => {
    const r = computeUsage(
      [
        row({ vmId: 'v1', allocatedAt: T('2025-01-01T00:00:00.001Z'), releasedAt: T('2025-01-01T00:00:00.101Z') }),
        row({ vmId: 'v2', allocatedAt: T('2025-01-01T00:00:00.201Z'), releasedAt: T('2025-01-01T00:00:00.401Z') }),
        row({
          ownerId: 'cust-2',
          vmId: 'v3',
          ip: '2001:db8:1::10',
          family: 6,
          allocatedAt: T('2025-01-01T00:00:00Z'),
          releasedAt: T('2025-01-01T00:00:00.300Z'),
        }),
      ],
      q(),
    );
    expect(r.owners.map((o) => [o.ownerId, o.addressSeconds, o.addresses.length])).toEqual([
      ['cust-1', 0.3, 1],
      ['cust-2', 0.3, 1],
    ]);
    expect(r.owners[0].addresses[0].intervals.map((i) => [i.vmId, i.seconds])).toEqual([
      ['v1', 0.1],
      ['v2', 0.2],
    ]);
    expect(r.totals).toMatchObject({ addressSeconds: 0.6, byFamily: { '4': 0.3, '6': 0.3 } });
  });

  it('counts a floating address for its owner, with its id and no VM', () => {
    const r = computeUsage(
      [row({}), row({ ip: '203.0.113.60', vmId: null, floatingId: 'f1', allocatedAt: T('2025-01-01T12:00:00Z'), releasedAt: T('2025-01-01T18:00:00Z') })],
      q(),
    );
    expect(r.owners[0].addresses.map((a) => [a.ip, a.addressSeconds])).toEqual([
      ['203.0.113.10', 86400],
      ['203.0.113.60', 21600],
    ]);
    expect(r.owners[0].addresses[1].intervals[0]).toMatchObject({ vmId: null, floatingId: 'f1', seconds: 21600 });
  });

  it('filters by owner', () => {
    const r = computeUsage([row({}), row({ ownerId: 'cust-2' })], q({ ownerId: 'cust-2' }));
    expect(r.owners.map((o) => o.ownerId)).toEqual(['cust-2']);
    expect(r.ownerId).toBe('cust-2');
  });
});
