/**
 * Golden files: the whole rendered BIRD / FRR / Junos text of representative inputs (golden-cases.ts) must equal
 * the file checked in under libs/renderers/__golden__/, so a stray or missing line fails with a diff. After an
 * intended renderer change: `npm run golden:update` (UPDATE_GOLDEN=1), then review `git diff`.
 * Every checked-in file is also parsed by the real daemon: `bird -p` for BIRD 2, `vtysh -C` + `bgpd -C` for FRR.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unifiedDiff } from './diff';
import { GOLDEN_CASES } from './golden-cases';
import { birdCheck, frrCheck } from './test-support';

const DIR = join(__dirname, '..', '__golden__');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const byFile = GOLDEN_CASES.map((c) => [c.file, c] as const);
const golden = (file: string) => readFileSync(join(DIR, file), 'utf8');

describe('renderer golden files (libs/renderers/__golden__)', () => {
  describe.each(byFile)('given the case %s', (file, c) => {
    it(UPDATE ? 'then the golden file is rewritten from the renderer' : 'then the rendered text equals the golden file', () => {
      const actual = c.render();
      if (UPDATE) {
        writeFileSync(join(DIR, file), actual);
        return;
      }
      if (!existsSync(join(DIR, file))) throw new Error(`missing golden file __golden__/${file}: run \`npm run golden:update\``);
      const expected = golden(file);
      if (actual !== expected) {
        throw new Error(
          `rendered text differs from __golden__/${file} (if intended: \`npm run golden:update\` and review the diff)\n` +
            unifiedDiff(expected, actual, `__golden__/${file}`, 'rendered'),
        );
      }
    });

    if (c.dialect === 'bird') {
      it('then bird -p accepts the golden file', () => {
        const r = birdCheck(golden(file));
        expect({ file, ok: r.ok, output: r.output }).toMatchObject({ ok: true });
      });
    } else if (c.dialect === 'frr') {
      it('then FRR (vtysh -C, bgpd -C) accepts the golden file', () => {
        const r = frrCheck(golden(file));
        expect({ file, ok: r.ok, output: r.output }).toMatchObject({ ok: true });
      });
    } else if (file.endsWith('.set')) {
      // No Junos parser runs here: check the shape the router's `load set` needs.
      it('then every line is a set or delete statement', () => {
        for (const line of golden(file).trimEnd().split('\n')) expect(line).toMatch(/^(set|delete) \S/);
      });
    }
  });

  it('then every file in __golden__ belongs to a case (no stale files)', () => {
    const known = new Set(GOLDEN_CASES.map((c) => c.file));
    const stale = readdirSync(DIR).filter((f) => !known.has(f));
    if (UPDATE) for (const f of stale) rmSync(join(DIR, f));
    else expect(stale).toEqual([]);
  });
});
