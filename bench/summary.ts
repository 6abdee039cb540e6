/**
 * The figures issue 10 sets targets for, collected by each bench as it measures them and printed together at the
 * end of `npm run bench` (all from the same run): ours, the floor measured in that run, the ratio, the target.
 */
export interface SummaryRow {
  figure: string;
  ours: string;
  floor: string;
  ratio: string;
  target: string;
  met: boolean | undefined;
}

export const summary: SummaryRow[] = [];

export function report(row: SummaryRow): void {
  summary.push(row);
}

export function printSummary(): void {
  if (!summary.length) return;
  console.log('\nissue 10 targets (this run)');
  const cols: (keyof SummaryRow)[] = ['figure', 'ours', 'floor', 'ratio', 'target'];
  const w = cols.map((c) => Math.max(c.length, ...summary.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => '  ' + vals.map((v, i) => v.padEnd(w[i])).join(' | ');
  console.log(line([...cols.map(String), 'met']));
  for (const r of summary) console.log(line([...cols.map((c) => String(r[c])), r.met === undefined ? '—' : r.met ? 'yes' : 'NO']));
}
