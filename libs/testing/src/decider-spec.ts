/**
 * Given/when/then for deciders, after event-driven-io/emmett's DeciderSpecification:
 *
 *   const spec = DeciderSpecification.for(vmDecider);
 *   spec.given([created]).when(deleteVm).then([deleted]);
 *   spec.given([]).when(deleteVm).thenThrows({ status: 404, code: 'vm-not-found' });
 *
 * `then` also checks that `decide` did not mutate the state it was given (evolve may mutate; decide must
 * not, or a refused command would leave a half-applied in-memory state behind).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Decider } from '@fabric/contracts';

type ErrorClass = abstract new (...args: any[]) => Error;
/** A predicate returning false fails; one that throws (e.g. `expect(...)` inside) fails with its error. */
type ErrorCheck = (error: any) => boolean | void;
/** Subset of the thrown error's fields, compared with toMatchObject, e.g. `{ status: 409, code: 'x' }`. */
type ErrorShape = Record<string, unknown>;

export interface ThenClause<State, Event> {
  then(expected: Event[]): void;
  thenNothingHappened(): void;
  /** Runs decide, evolves the produced events and hands the resulting state (and events) to `check`. */
  thenState(check: (state: State, events: Event[]) => void): void;
  thenThrows(): void;
  thenThrows(check: ErrorCheck | ErrorShape): void;
  thenThrows(errorClass: ErrorClass, check?: ErrorCheck | ErrorShape): void;
}
export interface WhenClause<Command, State, Event> {
  when(command: Command): ThenClause<State, Event>;
}
export interface Specification<Command, State, Event> {
  (given: Event | Event[]): WhenClause<Command, State, Event>;
  given(events: Event | Event[]): WhenClause<Command, State, Event>;
}

export class DeciderSpecificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeciderSpecificationError';
  }
}

export const DeciderSpecification = {
  for<Command, State, Event>(decider: Decider<Command, State, Event>): Specification<Command, State, Event> {
    const given = (givenEvents: Event | Event[]): WhenClause<Command, State, Event> => {
      const events = Array.isArray(givenEvents) ? givenEvents : [givenEvents];
      return {
        when(command: Command): ThenClause<State, Event> {
          const load = () => events.reduce<State>((s, e) => decider.evolve(s, e), decider.initialState());
          const decide = () => {
            const state = load();
            const before = snapshot(state);
            const produced = decider.decide(command, state);
            if (before.ok && !isDeepStrictEqual(before.value, snapshot(state).value)) {
              throw new DeciderSpecificationError('decide() mutated the state it was given');
            }
            return { state, produced };
          };
          return {
            then(expected: Event[]) {
              expectEqual(decide().produced, expected);
            },
            thenNothingHappened() {
              expectEqual(decide().produced, []);
            },
            thenState(check) {
              const { state, produced } = decide();
              check(
                produced.reduce<State>((s, e) => decider.evolve(s, e), state),
                produced,
              );
            },
            thenThrows(a?: ErrorClass | ErrorCheck | ErrorShape, b?: ErrorCheck | ErrorShape) {
              let result: Event[];
              try {
                result = decide().produced;
              } catch (error) {
                if (error instanceof DeciderSpecificationError) throw error;
                checkError(error, a, b);
                return;
              }
              throw new DeciderSpecificationError(`expected decide() to throw, but it returned ${safeJson(result)}`);
            },
          };
        },
      };
    };
    return Object.assign(given, { given });
  },
};

function checkError(error: unknown, a?: ErrorClass | ErrorCheck | ErrorShape, b?: ErrorCheck | ErrorShape): void {
  let check: ErrorCheck | ErrorShape | undefined = b;
  if (isErrorClass(a)) {
    if (!(error instanceof a)) throw new DeciderSpecificationError(`expected a ${a.name}, got ${describeError(error)}`);
  } else {
    check = a;
  }
  if (check === undefined) return;
  if (typeof check === 'function') {
    if (check(error) === false) throw new DeciderSpecificationError(`thrown error did not satisfy the check: ${describeError(error)}`);
    return;
  }
  expectMatch(error, check);
}

// A class is a function with a prototype that is (or inherits from) Error.prototype; arrow predicates have no prototype.
function isErrorClass(x: unknown): x is ErrorClass {
  return typeof x === 'function' && !!x.prototype && (x.prototype === Error.prototype || x.prototype instanceof Error);
}

/** structuredClone handles Map/Set/bigint; states holding functions are simply not checked. */
function snapshot(state: unknown): { ok: boolean; value?: unknown } {
  try {
    return { ok: true, value: structuredClone(state) };
  } catch {
    return { ok: false };
  }
}

// jest's expect gives readable diffs; fall back to node:assert outside jest.
declare const expect: any;
function expectEqual(actual: unknown, expected: unknown): void {
  if (typeof expect === 'function') expect(actual).toEqual(expected);
  else require('node:assert').deepStrictEqual(actual, expected);
}
function expectMatch(actual: unknown, shape: ErrorShape): void {
  if (typeof expect === 'function') expect(actual).toMatchObject(shape);
  else for (const [k, v] of Object.entries(shape)) require('node:assert').deepStrictEqual((actual as any)?.[k], v);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : safeJson(e);
}
function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(v);
  }
}
