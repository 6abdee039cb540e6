import { cell, type Column, countByStatus, formatApiError, keyValues, sessionSummary, table, toApiError } from './format';

describe('table', () => {
  const rows = [
    { name: 'node1', vms: 3, drift: false, err: null },
    { name: 'node-long', vms: 120, drift: true, err: 'bird: syntax error' },
  ];
  const cols: Column<(typeof rows)[number]>[] = [
    { header: 'NODE', get: (r) => r.name },
    { header: 'VMS', get: (r) => r.vms, align: 'right' },
    { header: 'DRIFT', get: (r) => r.drift },
    { header: 'LAST ERROR', get: (r) => r.err },
  ];
  it('aligns columns to the widest cell, numbers on the right, no trailing spaces', () => {
    expect(table(rows, cols).split('\n')).toEqual([
      'NODE       VMS  DRIFT  LAST ERROR',
      'node1        3  no     -',
      'node-long  120  yes    bird: syntax error',
    ]);
  });
  it('says so when empty', () => {
    expect(table([], cols)).toBe('(none)');
    expect(table([], cols, '(no VMs)')).toBe('(no VMs)');
  });
  it('cells: missing values as -, lists joined, newlines flattened', () => {
    expect([cell(undefined), cell(''), cell(['rr1', 'rr2']), cell([]), cell('a\nb'), cell(0)]).toEqual(['-', '-', 'rr1,rr2', '-', 'a b', '0']);
  });
});

describe('keyValues', () => {
  it('aligns the values', () => {
    expect(
      keyValues([
        ['id', 'x'],
        ['status', 'at-core'],
        ['ip', null],
      ]),
    ).toBe('id:     x\nstatus: at-core\nip:     -');
  });
});

describe('API errors', () => {
  it('status, code and message on one line, then each field', () => {
    expect(formatApiError({ status: 409, code: 'vm-name-taken', message: 'cluster already has a VM named web1' })).toBe(
      'error 409 vm-name-taken: cluster already has a VM named web1',
    );
    expect(
      formatApiError({
        status: 400,
        code: 'validation-failed',
        message: 'request has invalid fields',
        fields: { name: ['must be a DNS label'], ownerId: ['too long', 'bad characters'] },
      }),
    ).toBe('error 400 validation-failed: request has invalid fields\n  name: must be a DNS label\n  ownerId: too long; bad characters');
    expect(formatApiError({ status: 0, code: 'unreachable', message: 'cannot reach the API' })).toBe('error unreachable: cannot reach the API');
  });
  it('non-API answers (a proxy page, an empty body) still become an error with a status', () => {
    expect(toApiError(502, '<html>Bad Gateway</html>', 'Bad Gateway')).toEqual({ status: 502, code: 'bad-gateway', message: '<html>Bad Gateway</html>' });
    expect(toApiError(500, '')).toEqual({ status: 500, code: 'http-error', message: 'HTTP 500' });
    expect(toApiError(404, { status: 404, code: 'vm-not-found', message: 'vm x not found' })).toEqual({
      status: 404,
      code: 'vm-not-found',
      message: 'vm x not found',
    });
  });
});

describe('summaries', () => {
  it('BGP sessions: established out of live ones', () => {
    expect(sessionSummary([])).toBe('-');
    expect(sessionSummary([{ state: 'Established' }, { state: 'Active' }, { state: 'Removed' }])).toBe('1/2 up');
  });
  it('VM counts in lifecycle order', () => {
    expect(countByStatus([{ status: 'failed' }, { status: 'at-core' }, { status: 'at-core' }, { status: 'requested' }])).toEqual([
      ['requested', 1],
      ['at-core', 2],
      ['failed', 1],
    ]);
  });
});
