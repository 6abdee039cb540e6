/**
 * Seeded properties (FUZZ_SEED reproduces a run): random bytes and mutated real BMP streams never make the
 * parser throw anything but a BmpParseError, and never make the framer hold more than one bounded message.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { FUZZ_SEED } from '../../../libs/renderers/src/fuzz-arbitraries';
import { BMP_MAX_MESSAGE, BmpFramer, BmpParseError } from './bmp-parse';

const RUNS = Number(process.env.FUZZ_RUNS ?? 5_000);
const params = { seed: FUZZ_SEED, numRuns: RUNS };
const session = readFileSync(path.join(__dirname, '__fixtures__', 'frr-8.4-session.bin'));

function feed(chunks: Uint8Array[]): void {
  const f = new BmpFramer();
  try {
    for (const c of chunks) {
      f.push(Buffer.from(c));
      expect(f.pending).toBeLessThanOrEqual(BMP_MAX_MESSAGE + c.length);
    }
  } catch (e) {
    if (!(e instanceof BmpParseError)) throw e;
  }
}

describe('BMP parser fuzz', () => {
  it('random bytes: parsed or refused with a BmpParseError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (chunks) => feed(chunks)),
      params,
    );
  });

  it('random bytes behind a valid BMP v3 header: parsed or refused with a BmpParseError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 400 }), (type, body) => {
        const m = Buffer.concat([Buffer.from([3, 0, 0, 0, 0, type]), Buffer.from(body)]);
        m.writeUInt32BE(m.length, 1);
        feed([m]);
      }),
      params,
    );
  });

  it('the real capture with random bytes overwritten: parsed or refused with a BmpParseError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(session.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const m = Buffer.from(session);
        for (const [at, v] of edits) m[at] = v;
        feed([m]);
      }),
      params,
    );
  });
});
