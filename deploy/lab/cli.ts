/**
 * Lab fabric CLI (root):
 *   node -r ./deploy/register.js deploy/lab/cli.ts up --nodes 3 --rrs 2 --prefix fab- [--replace] [--evpn] [--management]
 *   node -r ./deploy/register.js deploy/lab/cli.ts down --prefix fab-
 *   node -r ./deploy/register.js deploy/lab/cli.ts status --prefix fab-
 * `up` and `status` print the lab description (the state file) as JSON on stdout.
 */
import { labDown, labUp, readLabState } from './topology';

function parseArgs(argv: string[]): { cmd: string; flags: Record<string, string | true> } {
  const [cmd, ...rest] = argv;
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    const [k, inline] = a.slice(2).split('=', 2);
    if (inline !== undefined) flags[k] = inline;
    else if (rest[i + 1] !== undefined && !rest[i + 1].startsWith('--')) flags[k] = rest[++i];
    else flags[k] = true;
  }
  return { cmd: cmd ?? 'help', flags };
}

function intFlag(v: string | true | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v === true || !Number.isInteger(n)) throw new Error(`--${name} needs an integer`);
  return n;
}

async function main(): Promise<void> {
  const { cmd, flags } = parseArgs(process.argv.slice(2));
  const prefix = typeof flags.prefix === 'string' ? flags.prefix : 'fab-';
  switch (cmd) {
    case 'up': {
      const state = await labUp({
        prefix,
        nodes: intFlag(flags.nodes, 3, 'nodes'),
        rrs: intFlag(flags.rrs, 2, 'rrs'),
        replace: flags.replace === true,
        evpn: flags.evpn === true,
        management: flags.management === true,
      });
      process.stdout.write(JSON.stringify(state, null, 2) + '\n');
      break;
    }
    case 'down': {
      const r = await labDown(prefix);
      process.stdout.write(JSON.stringify({ prefix, ...r }) + '\n');
      break;
    }
    case 'status': {
      const state = await readLabState(prefix);
      if (!state) {
        process.stderr.write(`lab ${prefix} is not up\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(JSON.stringify(state, null, 2) + '\n');
      break;
    }
    default:
      process.stderr.write('usage: cli.ts up --nodes N --rrs N --prefix P- [--replace] [--evpn] [--management] | down --prefix P- | status --prefix P-\n');
      process.exitCode = cmd === 'help' ? 0 : 2;
  }
}

main().catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
