import { checkEnvelope, clearUpcasters, ConfigApplied, InvalidEventError, registerUpcaster } from '@fabric/contracts';

const target = { kind: 'rr', id: 'c1_rr1' };
const env = (type: string, data: unknown, schemaVersion = 1) => ({ id: 'e1', type, schemaVersion, occurredAt: '2026-01-01T00:00:00.000Z', data }) as never;

describe('checkEnvelope: every event is validated (and upcast) on read', () => {
  it('given a valid RoutesObserved, then it is returned as is', () => {
    const e = env('RoutesObserved', { target, routes: [{ prefix: '203.0.113.5/32', nextHop: '198.18.0.21' }] });
    expect(checkEnvelope(e)).toBe(e);
  });

  it('given a RoutesObserved whose prefix is not a string, then it is invalid with the field named', () => {
    expect(() => checkEnvelope(env('RoutesObserved', { target, routes: [{ prefix: 42 }] }))).toThrow(/routes\.0\.prefix/);
  });

  it('given a generation above 2^31, then it is invalid (the read model stores it as int)', () => {
    expect(() => checkEnvelope(env('ConfigApplied', { target, generation: 2 ** 31, hash: 'h', changes: 0, durationMs: 1 }))).toThrow(/generation/);
    expect(() => checkEnvelope(env('ConfigApplied', { target, generation: 2 ** 31 - 1, hash: 'h', changes: 0, durationMs: 1 }))).not.toThrow();
  });

  it('given an unknown type, a missing data, a bad time or no object at all, then it is invalid', () => {
    expect(() => checkEnvelope(env('Nope', {}))).toThrow(InvalidEventError);
    expect(() => checkEnvelope(env('NodeDrained', null))).toThrow(/data must be an object/);
    expect(() => checkEnvelope({ ...(env('NodeDrained', {}) as object), occurredAt: 'yesterday' } as never)).toThrow(/occurredAt/);
    expect(() => checkEnvelope('x' as never)).toThrow(/not an object/);
  });

  it('given a schemaVersion newer than the reader knows, then it is invalid (never folded half-understood)', () => {
    expect(() =>
      checkEnvelope(env('NodeDrained', { nodeId: '6f1d2c1e-0000-4000-8000-0000000000b1', clusterId: '6f1d2c1e-0000-4000-8000-0000000000b2' }, 2)),
    ).toThrow(/newer/);
  });

  describe('upcasting', () => {
    const original = ConfigApplied.version;
    beforeAll(() => Object.defineProperty(ConfigApplied, 'version', { value: 3, configurable: true }));
    afterAll(() => {
      Object.defineProperty(ConfigApplied, 'version', { value: original, configurable: true });
      clearUpcasters('ConfigApplied');
    });

    it('given upcasters 1→2→3, when a v1 event is read, then the reader gets v3 data, validated', () => {
      registerUpcaster('ConfigApplied', 1, (d) => ({ ...d, changes: d.changeCount, changeCount: undefined }));
      registerUpcaster('ConfigApplied', 2, (d) => ({ ...d, durationMs: Math.round(Number(d.seconds) * 1000), seconds: undefined }));
      const out = checkEnvelope(env('ConfigApplied', { target, generation: 4, hash: 'h', changeCount: 2, seconds: 1.5 }, 1)) as unknown as {
        schemaVersion: number;
        data: Record<string, unknown>;
      };
      expect(out.schemaVersion).toBe(3);
      expect(out.data).toMatchObject({ generation: 4, changes: 2, durationMs: 1500 });
    });

    it('given no upcaster for a version, then the event is invalid', () => {
      clearUpcasters('ConfigApplied');
      registerUpcaster('ConfigApplied', 2, (d) => d);
      expect(() => checkEnvelope(env('ConfigApplied', { target, generation: 4, hash: 'h', changes: 0, durationMs: 1 }, 1))).toThrow(
        /no upcaster for ConfigApplied from schemaVersion 1/,
      );
    });
  });
});
