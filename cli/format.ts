/** fabricctl's human output: aligned tables, key/value blocks and API errors. Pure: strings in, strings out. */

export interface Column<T> {
  header: string;
  get: (row: T) => unknown;
  align?: 'left' | 'right';
}

export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(',') : '-';
  return String(v).replace(/\s+/g, ' ');
}

/** Columns padded to their widest cell; numbers right-aligned when asked. Empty → a "(none)" line. */
export function table<T>(rows: T[], columns: Column<T>[], empty = '(none)'): string {
  if (!rows.length) return empty;
  const cells = rows.map((r) => columns.map((c) => cell(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : i === vals.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** `key: value` lines with the values aligned. */
export function keyValues(pairs: [string, unknown][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w)} ${cell(v)}`).join('\n');
}

export interface ApiErrorBody {
  status: number;
  code: string;
  message: string;
  fields?: Record<string, string[]>;
}

/** `error 409 vm-name-taken: cluster already has a VM named web1`, then one line per offending field. */
export function formatApiError(e: ApiErrorBody): string {
  const head = e.status ? `error ${e.status} ${e.code}: ${e.message}` : `error ${e.code}: ${e.message}`;
  const fields = Object.entries(e.fields ?? {}).map(([f, msgs]) => `  ${f}: ${msgs.join('; ')}`);
  return [head, ...fields].join('\n');
}

/** Whatever came back on an error status, as an ApiErrorBody (proxies may answer HTML or nothing). */
export function toApiError(status: number, body: unknown, statusText = ''): ApiErrorBody {
  if (body && typeof body === 'object' && 'code' in body && 'message' in body) {
    const b = body as ApiErrorBody;
    return { status: b.status ?? status, code: String(b.code), message: String(b.message), ...(b.fields ? { fields: b.fields } : {}) };
  }
  const text = typeof body === 'string' ? body.trim().slice(0, 200) : '';
  return { status, code: statusText ? statusText.toLowerCase().replace(/\s+/g, '-') : 'http-error', message: text || `HTTP ${status}` };
}

/** "2/3 up" style summary of BGP sessions. */
export function sessionSummary(sessions: { state: string }[]): string {
  const live = sessions.filter((s) => s.state !== 'Removed'); // agents report a deleted protocol as Removed
  if (!live.length) return '-';
  const up = live.filter((s) => /^established/i.test(s.state)).length;
  return `${up}/${live.length} up`;
}

/** VM counts by status in lifecycle order, e.g. `at-core 3, failed 1`. */
export const STATUS_ORDER = ['requested', 'ip-allocated', 'applied', 'announced', 'at-core', 'migrating', 'failed', 'deleted'];
export function countByStatus(vms: { status: string }[]): [string, number][] {
  const m = new Map<string, number>();
  for (const v of vms) m.set(v.status, (m.get(v.status) ?? 0) + 1);
  const rank = (s: string) => (STATUS_ORDER.includes(s) ? STATUS_ORDER.indexOf(s) : STATUS_ORDER.length);
  return [...m.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}
