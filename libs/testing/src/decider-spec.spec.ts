import { DomainError, type Decider } from '@fabric/contracts';
import { DeciderSpecification, DeciderSpecificationError } from './decider-spec';

type Cmd = { type: 'Add'; data: { n: number } } | { type: 'Poke'; data: Record<string, never> };
type Ev = { type: 'Added'; data: { n: number } };
type St = { total: number; seen: Set<number> };

const counter: Decider<Cmd, St, Ev> = {
  initialState: () => ({ total: 0, seen: new Set() }),
  decide(cmd, s) {
    if (cmd.type === 'Poke') {
      s.total += 1000; // deliberately impure
      return [];
    }
    if (cmd.data.n <= 0) throw new DomainError(400, 'not-positive', 'n must be positive');
    if (s.seen.has(cmd.data.n)) return [];
    return [{ type: 'Added', data: { n: cmd.data.n } }];
  },
  evolve(s, e) {
    s.total += e.data.n;
    s.seen.add(e.data.n);
    return s;
  },
};
const spec = DeciderSpecification.for(counter);
const added = (n: number): Ev => ({ type: 'Added', data: { n } });

describe('DeciderSpecification', () => {
  it('then: compares produced events', () => {
    spec
      .given([])
      .when({ type: 'Add', data: { n: 1 } })
      .then([added(1)]);
    spec
      .given(added(1))
      .when({ type: 'Add', data: { n: 1 } })
      .thenNothingHappened();
    expect(() =>
      spec
        .given([])
        .when({ type: 'Add', data: { n: 1 } })
        .then([added(2)]),
    ).toThrow();
  });

  it('is callable like emmett (spec(given).when(...))', () => {
    spec([added(1)])
      .when({ type: 'Add', data: { n: 2 } })
      .then([added(2)]);
  });

  it('thenThrows: no argument, class, predicate, shape, class + shape', () => {
    const when = spec.given([]).when({ type: 'Add', data: { n: 0 } });
    when.thenThrows();
    when.thenThrows(DomainError);
    when.thenThrows((e: DomainError) => e.status === 400);
    when.thenThrows((e: DomainError) => {
      expect(e.code).toBe('not-positive');
    });
    when.thenThrows({ status: 400, code: 'not-positive' });
    when.thenThrows(DomainError, { code: 'not-positive' });
  });

  it('thenThrows fails when the error does not match or nothing is thrown', () => {
    const bad = spec.given([]).when({ type: 'Add', data: { n: 0 } });
    expect(() => bad.thenThrows(TypeError)).toThrow(DeciderSpecificationError);
    expect(() => bad.thenThrows(() => false)).toThrow(DeciderSpecificationError);
    expect(() => bad.thenThrows({ status: 409 })).toThrow();
    expect(() =>
      spec
        .given([])
        .when({ type: 'Add', data: { n: 1 } })
        .thenThrows(),
    ).toThrow(/expected decide\(\) to throw/);
  });

  it('thenState: evolves the produced events', () => {
    spec
      .given([added(1)])
      .when({ type: 'Add', data: { n: 5 } })
      .thenState((s, events) => {
        expect(s.total).toBe(6);
        expect(events).toEqual([added(5)]);
      });
  });

  it('detects a decide() that mutates its state', () => {
    expect(() => spec.given([]).when({ type: 'Poke', data: {} }).then([])).toThrow(/mutated/);
  });
});
