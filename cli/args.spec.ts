import { execFileSync } from 'node:child_process';
import { buildProgram, helpText, parseArgv, parsePair, type Parsed, UsageError } from './args';
import { bashCompletion } from './completion';

const words = (line: string) => line.split(' ').filter(Boolean);
const parse = (line: string) => parseArgv(words(line)) as Parsed;
const usage = (line: string): UsageError => {
  try {
    parseArgv(words(line));
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`"${line}" parsed without a usage error`);
};

describe('parseArgv', () => {
  it('finds the command, its options, positionals and the global options anywhere', () => {
    const p = parse('--api http://x/api/v1 vm create --cluster lab --node node1 --name=web1 --owner c-1 --family 6 --json --token t0k');
    expect(p).toEqual({
      name: 'vm create',
      args: {},
      opts: { cluster: 'lab', node: 'node1', name: 'web1', owner: 'c-1', family: '6' },
      global: { api: 'http://x/api/v1', token: 't0k', json: true },
    });
    expect(parse('vm show 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e').args).toEqual({ vm: '6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e' });
    expect(parse('status').global).toEqual({ api: undefined, token: undefined, json: false });
    expect(parse('completion bash')).toMatchObject({ name: 'completion', args: { shell: 'bash' } });
  });

  it('vm create --addressing dual-stack|ipv4|ipv6', () => {
    expect(parse('vm create --cluster lab --node n1 --name w --owner o --addressing ipv6')).toMatchObject({ opts: { addressing: 'ipv6' } });
    expect(() => parse('vm create --cluster lab --node n1 --name w --owner o --addressing both')).toThrow(
      "option '--addressing <MODE>' argument 'both' is invalid. Allowed choices are dual-stack, ipv4, ipv6.",
    );
  });

  it('vm address add <vm> [--family 6] [--ip X], vm address rm <vm> <ip>', () => {
    const vm = '6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e';
    expect(parse(`vm address add ${vm} --family 6`)).toMatchObject({ name: 'vm address', args: { action: 'add', vm }, opts: { family: '6' } });
    expect(parse(`vm address add ${vm} --ip 203.0.113.9 --dry-run`)).toMatchObject({ args: { action: 'add', vm }, opts: { ip: '203.0.113.9', dryRun: true } });
    expect(parse(`vm address rm ${vm} 2001:db8::9`)).toMatchObject({ name: 'vm address', args: { action: 'rm', vm, ip: '2001:db8::9' } });
    expect(usage(`vm address move ${vm}`).message).toMatch(/move/);
    expect(usage(`vm address add ${vm} --family 5`).message).toMatch(/5/);
  });

  it('floating create|ls|show|attach|detach|rm', () => {
    const id = '6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e';
    expect(parse('floating create --cluster lab --owner acme --family 6')).toMatchObject({
      name: 'floating create',
      opts: { cluster: 'lab', owner: 'acme', family: '6' },
    });
    expect(parse('floating ls --owner acme')).toMatchObject({ name: 'floating ls', opts: { owner: 'acme' } });
    expect(parse(`floating show ${id}`)).toMatchObject({ name: 'floating show', args: { id } });
    expect(parse(`floating attach ${id} --vm ${id} --allow-other-owner --dry-run`)).toMatchObject({
      name: 'floating attach',
      args: { id },
      opts: { vm: id, allowOtherOwner: true, dryRun: true },
    });
    expect(parse(`floating detach ${id}`)).toMatchObject({ name: 'floating detach', args: { id } });
    expect(parse(`floating rm ${id} --idempotency-key k1`)).toMatchObject({ name: 'floating rm', args: { id }, opts: { idempotencyKey: 'k1' } });
    expect(usage(`floating attach ${id}`).message).toMatch(/--vm/);
    expect(usage('floating create --cluster lab --owner acme --family 5').message).toMatch(/5/);
  });

  it('--dry-run on the writes that change configs', () => {
    for (const line of [
      'node join --cluster lab --name n9 --underlay-ip 198.18.1.9 --dry-run',
      'node drain n1 --cluster lab --evacuate --dry-run',
      'node evacuate n1 --cluster lab --dry-run',
      'node undrain n1 --cluster lab --dry-run',
      'vm create --cluster lab --node n1 --name w --owner c-1 --dry-run',
      'vm delete 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e --dry-run',
      'vm migrate 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e --to n2 --dry-run',
      'vm blackhole 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e --reason flood --dry-run',
      'vm unblackhole 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e --dry-run',
    ])
      expect({ line, dryRun: (parse(line).opts as { dryRun?: boolean }).dryRun }).toEqual({ line, dryRun: true });
    expect(parse('vm delete 6a0d4c2e-1f3b-4a5c-8d7e-9f0a1b2c3d4e').opts).not.toHaveProperty('dryRun');
  });

  it('types: integers, repeated lists, booleans, camelCase names', () => {
    const p = parse(
      'cluster create --name lab --fabric-asn 65000 --core-asn 65001 --community 65000:100 --rr rr1=198.18.0.11 --rr rr2=198.18.0.12 --core-router core=198.18.0.1 --bfd',
    );
    expect(p.opts).toMatchObject({ fabricAsn: 65000, coreAsn: 65001, rr: ['rr1=198.18.0.11', 'rr2=198.18.0.12'], coreRouter: 'core=198.18.0.1', bfd: true });
    expect(p.opts).not.toHaveProperty('gracefulRestart');
    const safety = parse(
      'cluster create --name lab --fabric-asn 65000 --core-asn 65001 --community 65000:100 --rr rr1=198.18.0.11 --core-router core=198.18.0.1 --md5-opt-out lab-only --prefix-limit-action disable --core-community none',
    );
    expect(safety.opts).toMatchObject({ md5OptOut: 'lab-only', prefixLimitAction: 'disable', coreCommunity: 'none' });
    expect(
      usage(
        'cluster create --name lab --fabric-asn 65000 --core-asn 65001 --community 65000:100 --rr rr1=198.18.0.11 --core-router core=198.18.0.1 --prefix-limit-action explode',
      ).message,
    ).toMatch(/prefix-limit-action/);
    expect(parse('vm list --limit 5 --offset 0').opts).toEqual({ limit: 5, offset: 0 });
    expect(parse('vm migrate abc --to node2 --idempotency-key k1').opts).toEqual({ to: 'node2', idempotencyKey: 'k1' });
  });

  // Strict: every mistake is a usage error naming what is wrong, and nothing reaches the API.
  it.each([
    ['vm', 'vm', '"vm" needs a subcommand: create, list, show, delete, migrate, blackhole, unblackhole, attach-network, detach-network, address'],
    ['vm explode', 'vm', "unknown command 'vm explode'"],
    ['frobnicate', undefined, "unknown command 'frobnicate'"],
    ['vm create --cluster lab --node n1 --name web1', 'vm create', "required option '--owner <OWNER>' not specified"],
    ['node join --cluster lab --name n1', 'node join', "required option '--underlay-ip <IPv4>' not specified"],
    ['vm show', 'vm show', "missing required argument 'vm'"],
    ['vm show a b', 'vm show', "too many arguments for 'show'. Expected 1 argument but got 2."],
    ['vm list --colour red', 'vm list', "unknown option '--colour'"],
    ['vm list --limit ten', 'vm list', "option '--limit <N>' argument 'ten' is invalid. must be a non-negative integer"],
    ['vm list --limit -1', 'vm list', "option '--limit <N>' argument '-1' is invalid. must be a non-negative integer"],
    ['vm list --limit', 'vm list', "option '--limit <N>' argument missing"],
    [
      'vm create --cluster lab --node n --name w --owner o --family 5',
      'vm create',
      "option '--family <4|6>' argument '5' is invalid. Allowed choices are 4, 6.",
    ],
    ['vm list --owner a --owner b', 'vm list', "option '--owner <OWNER>' argument 'b' is invalid. given twice"],
    ['node list --cluster lab -x', 'node list', "unknown option '-x'"],
    ['status --json=maybe', 'status', "unknown option '--json=maybe'"],
    ['--api a --api b status', undefined, "option '--api <URL>' argument 'b' is invalid. given twice"],
    [
      'cluster create --name l --fabric-asn 1 --core-asn 2 --community 1:1 --rr rr1 --core-router c=1.2.3.4',
      'cluster create',
      "option '--rr <NAME=IP>' argument 'rr1' is invalid. must be NAME=IP",
    ],
    ['completion zsh', 'completion', "command-argument value 'zsh' is invalid for argument 'shell'. Allowed choices are bash."],
  ])('%s → %s: %s', (line, command, message) => {
    const err = usage(line);
    expect(err.message).toBe(message);
    expect(err.command).toBe(command);
  });

  it('help: global, per group, per command, with the global options', () => {
    expect(parseArgv([])).toEqual({ help: helpText() });
    expect(parseArgv(['--help'])).toEqual({ help: helpText() });
    expect(parseArgv(['vm', 'create', '-h'])).toEqual({ help: helpText('vm create') });
    expect(parseArgv(['help', 'vm'])).toEqual({ help: helpText('vm') });
    expect(parseArgv(['vm', 'help', 'create'])).toEqual({ help: helpText('vm create') });
    expect(helpText('vm')).toMatch(/Commands:\n\s+create \[options\]\s+create a VM/);
    const vmCreate = helpText('vm create');
    expect(vmCreate).toContain('Usage: fabricctl vm create [options]');
    expect(vmCreate).toMatch(/--owner <OWNER>\s+owner \(billing\) id \(required\)/);
    expect(vmCreate).toMatch(/--family <4\|6>\s+address family \(default 4\) \(choices: "4", "6"\)/);
    expect(vmCreate).toMatch(/Global Options:\n\s+--api <URL>/);
    const all = helpText();
    for (const group of ['cluster', 'node', 'vm', 'status', 'router-config', 'completion']) expect(all).toMatch(new RegExp(`\\n  ${group}\\b`));
    expect(all).toContain('exit codes: 0 ok, 1 API error, 2 usage error.');
    expect(
      helpText('node')
        .split('\n')
        .filter((l) => /^ {2}(join|drain|evacuate|undrain|list)\b/.test(l)),
    ).toHaveLength(5);
  });
});

describe('parsePair', () => {
  it('NAME=IP (the shape was checked by the parser)', () => {
    expect(parsePair('rr1=198.18.0.11')).toEqual({ name: 'rr1', ip: '198.18.0.11' });
    expect(parsePair('v6=2001:db8::1')).toEqual({ name: 'v6', ip: '2001:db8::1' });
  });
});

describe('bash completion', () => {
  const script = bashCompletion(buildProgram());
  /** What the generated function offers for a command line typed so far (the last word is being completed). */
  const complete = (line: string): string[] => {
    const ws = line.split(' ');
    const program = `${script}\nCOMP_WORDS=(${ws.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${ws.length - 1}; _fabricctl_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter(Boolean);
  };

  it('is a bash script that registers itself for fabricctl', () => {
    expect(script).toContain('complete -F _fabricctl_complete fabricctl');
    execFileSync('bash', ['-n', '-c', script]);
  });

  it('offers commands, subcommands, options and choices as the parser accepts them', () => {
    expect(complete('fabricctl ')).toEqual(['cluster', 'node', 'vm', 'private-network', 'floating', 'status', 'audit', 'router-config', 'completion', 'help']);
    expect(complete('fabricctl v')).toEqual(['vm']);
    expect(complete('fabricctl vm ')).toEqual([
      'create',
      'list',
      'show',
      'delete',
      'migrate',
      'blackhole',
      'unblackhole',
      'attach-network',
      'detach-network',
      'address',
      'help',
    ]);
    expect(complete('fabricctl --api http://x vm m')).toEqual(['migrate']);
    expect(complete('fabricctl vm create --o')).toEqual(['--owner']);
    expect(complete('fabricctl vm create --cluster lab --')).toEqual(
      expect.arrayContaining(['--node', '--family', '--driver', '--api', '--token', '--json', '--help']),
    );
    expect(complete('fabricctl vm create --driver ')).toEqual(['tap', 'veth', 'netns']);
    expect(complete('fabricctl router-config show --format f')).toEqual(['frr']);
    expect(complete('fabricctl vm create --name ')).toEqual([]);
    expect(complete('fabricctl completion ')).toEqual(['bash']);
    expect(complete('fabricctl floating ')).toEqual(['create', 'ls', 'show', 'attach', 'detach', 'rm', 'help']);
    expect(complete('fabricctl vm address ')).toEqual(['add', 'rm']);
    expect(complete('fabricctl vm address add x --f')).toEqual(['--family']);
  });
});
