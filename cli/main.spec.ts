import { main } from './main';

/** main() with its output collected; nothing here reaches an API (usage errors, help and completion are local). */
async function fabricctl(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  // An API address nothing listens on: a command that wrongly reached the API would fail with exit 1, not 2.
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env: { FABRIC_API: 'http://127.0.0.1:1/api/v1' } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('fabricctl main', () => {
  it('usage errors: exit 2, the reason and where to find help, nothing on stdout', async () => {
    expect(await fabricctl('vm', 'list', '--colour', 'red')).toEqual({
      code: 2,
      out: '',
      err: "fabricctl: unknown option '--colour'\n(run: fabricctl vm list --help)",
    });
    expect(await fabricctl('vm', 'migrate', 'abc')).toEqual({
      code: 2,
      out: '',
      err: "fabricctl: required option '--to <ID|NAME>' not specified\n(run: fabricctl vm migrate --help)",
    });
    expect(await fabricctl('frobnicate')).toEqual({ code: 2, out: '', err: "fabricctl: unknown command 'frobnicate'\n(run: fabricctl --help)" });
    expect(await fabricctl('vm', 'show', '--json')).toEqual({
      code: 2,
      out: '',
      err: JSON.stringify({ error: 'usage', message: "missing required argument 'vm'" }),
    });
  });

  it('help: exit 0 on stdout, for fabricctl, a group and a command', async () => {
    for (const argv of [[], ['--help'], ['vm', '--help'], ['help', 'node'], ['node', 'join', '-h']]) {
      const r = await fabricctl(...argv);
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' });
      expect(r.out).toMatch(/^Usage: fabricctl/);
    }
  });

  it('completion bash prints the script without asking the API', async () => {
    const r = await fabricctl('completion', 'bash');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^# fabricctl bash completion/);
    expect(r.out).toContain('complete -F _fabricctl_complete fabricctl');
  });

  it('an unreachable API is exit 1 (the parse passed)', async () => {
    const r = await fabricctl('cluster', 'list');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error unreachable: cannot reach the API at http:\/\/127\.0\.0\.1:1\/api\/v1/);
  });
});
