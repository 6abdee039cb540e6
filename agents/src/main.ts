/**
 * Agent CLI (root for the lab):
 *   node -r ./deploy/register.js agents/src/main.ts --role node --target <nodeId> --netns fab-node1 \
 *        --bird-config /run/ip-fabric-lab/fab-/node1/bird.conf --bird-socket /run/ip-fabric-lab/fab-/node1/bird.ctl
 *   node -r ./deploy/register.js agents/src/main.ts --lab fab- --member node1 --target <nodeId>
 * JSON logs on stdout; SIGINT/SIGTERM stop it cleanly.
 */
import { readLabState } from '@fabric/lab-state';
import { startMetricsServer } from '@fabric/service-kit';
import { type AgentHandle, startAgent } from './agent';
import { LockBusyError } from './host-lock';
import { FencedError, LeaseBusyError } from './lease';
import { buildOptions, type LabMemberInfo, labMember, parseFlags, USAGE } from './cli-args';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  let member: LabMemberInfo | undefined;
  if (flags.lab !== undefined || flags.member !== undefined) {
    if (typeof flags.lab !== 'string' || typeof flags.member !== 'string') throw new Error('--lab <prefix> and --member <name> go together');
    const state = await readLabState(flags.lab);
    if (!state) throw new Error(`lab ${flags.lab} is not up (no state file)`);
    member = labMember(state, flags.member);
  }
  const options = buildOptions(flags, member);
  await startMetricsServer(); // METRICS_PORT (deploy/lab/launch.ts gives each agent its own)
  let stopping = false;
  // Fenced (another agent took the target over): the agent has stopped itself; exit so nothing restarts it blindly.
  options.onFatal = (e) => {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(EXIT_TAKEN);
  };
  // Signals during the start (e.g. NATS still unreachable) end the process at once: nothing was applied yet.
  const early = () => process.exit(0);
  process.on('SIGINT', early);
  process.on('SIGTERM', early);
  const agent: AgentHandle = await startAgent(options);
  process.off('SIGINT', early);
  process.off('SIGTERM', early);
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    agent.stop().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`error while stopping (${signal}): ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** Another agent holds the target or the box (lock or lease): distinct from a usage error. */
const EXIT_TAKEN = 3;

main().catch((e) => {
  if (e instanceof LockBusyError || e instanceof LeaseBusyError || e instanceof FencedError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(EXIT_TAKEN);
  }
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
  process.exit(2);
});
