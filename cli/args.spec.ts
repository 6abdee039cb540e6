import { COMMANDS, helpText, parseArgv, parsePair, Parsed, UsageError } from './args';

const words = (line: string) => line.split(' ').filter(Boolean);
const parse = (line: string) => parseArgv(words(line)) as Parsed;
const usage = (line: string): string => {
  try {
    parseArgv(words(line));
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`"${line}" parsed without a usage error`);
};

describe('parseArgv', () => {
  it('finds the command, its flags, positionals and the global options anywhere', () => {
    const p = parse('--api http://x/api/v1 vm create --cluster lab --node node1 --name=web1 --owner c-1 --family 6 --json --token t0k');
    expect(p.command.path).toEqual(['vm', 'create']);
    expect(p.flags).toEqual({ cluster: 'lab', node: 'node1', name: 'web1', owner: 'c-1', family: '6' });
    expect(p.global).toEqual({ api: 'http://x/api/v1', token: 't0k', json: true });
    expect(parse('vm show 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e').args).toEqual({ vm: '6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e' });
    expect(parse('status').global).toEqual({ api: undefined, token: undefined, json: false });
  });

  it('types: integers, repeated lists, booleans', () => {
    const p = parse('cluster create --name lab --fabric-asn 65000 --core-asn 65001 --community 65000:100 --rr rr1=198.18.0.11 --rr rr2=198.18.0.12 --core-router core=198.18.0.1 --bfd');
    expect(p.flags).toMatchObject({ 'fabric-asn': 65000, 'core-asn': 65001, rr: ['rr1=198.18.0.11', 'rr2=198.18.0.12'], bfd: true });
    expect(p.flags['graceful-restart']).toBeUndefined();
    expect(parse('vm list --limit 5 --offset 0').flags).toEqual({ limit: 5, offset: 0 });
    expect(parse('vm migrate abc --to node2 --idempotency-key k1').flags).toEqual({ to: 'node2', 'idempotency-key': 'k1' });
  });

  it.each([
    ['vm', '"vm" needs a subcommand: create, list, show, delete, migrate'],
    ['vm explode', 'unknown command "vm explode"'],
    ['frobnicate', 'unknown command "frobnicate"'],
    ['vm create --cluster lab --node n1 --name web1', 'missing --owner OWNER'],
    ['vm show', 'missing vm argument'],
    ['vm show a b', 'unexpected argument "b"'],
    ['vm list --colour red', 'unknown option --colour for "vm list"'],
    ['vm list --limit ten', '--limit must be a non-negative integer'],
    ['vm list --limit', '--limit needs a value (N)'],
    ['vm create --cluster lab --node n --name w --owner o --family 5', '--family must be one of 4, 6'],
    ['vm list --owner a --owner b', '--owner given twice'],
    ['node list -x', 'unknown option -x'],
    ['status --json=maybe', '--json takes no value'],
  ])('%s → %s', (line, message) => {
    expect(usage(line)).toBe(message);
  });

  it('help: global, per group, per command', () => {
    expect(parseArgv([])).toEqual({ help: true, topic: undefined });
    expect(parseArgv(['--help'])).toEqual({ help: true, topic: undefined });
    const vmCreate = parseArgv(['vm', 'create', '--help']);
    expect(vmCreate).toMatchObject({ help: true, command: { path: ['vm', 'create'] } });
    const text = helpText((vmCreate as { command: any }).command);
    expect(text).toContain('usage: fabricctl vm create [options]');
    expect(text).toMatch(/--owner OWNER\s+owner \(billing\) id \(required\)/);
    const all = helpText();
    for (const c of COMMANDS) expect(all).toContain(c.path.join(' '));
    expect(helpText(undefined, 'node').split('\n').filter((l) => l.startsWith('  node '))).toHaveLength(3);
  });
});

describe('parsePair', () => {
  it('NAME=IP', () => {
    expect(parsePair('rr1=198.18.0.11', 'rr')).toEqual({ name: 'rr1', ip: '198.18.0.11' });
    expect(parsePair('v6=2001:db8::1', 'rr')).toEqual({ name: 'v6', ip: '2001:db8::1' });
    expect(() => parsePair('rr1', 'rr')).toThrow('--rr must be NAME=IP, got "rr1"');
  });
});
