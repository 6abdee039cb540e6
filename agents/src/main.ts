/**
 * Agent CLI (root for the lab):
 *   node -r ./deploy/register.js agents/src/main.ts --role node --target <nodeId> --netns fab-node1 \
 *        --bird-config /run/ip-fabric-lab/fab-/node1/bird.conf --bird-socket /run/ip-fabric-lab/fab-/node1/bird.ctl
 *   node -r ./deploy/register.js agents/src/main.ts --lab fab- --member node1 --target <nodeId>
 * JSON logs on stdout; SIGINT/SIGTERM stop it cleanly.
 */
import { readLabState } from '../../deploy/lab/topology';
import { startMetricsServer } from '@fabric/service-kit';
import { AgentHandle, startAgent } from './agent';
import { buildOptions, LabMemberInfo, labMember, parseFlags, USAGE } from './cli-args';

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
  await startMetricsServer(); // METRICS_PORT (deploy/lab/launch.ts gives each agent its own)
  const found = member;
  const agent: AgentHandle = await startWhenBusReachable(() => startAgent(buildOptions(flags, found)));
  let stopping = false;
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

/**
 * A node may boot before the bus answers, or before its freshly enrolled identity is loaded by the server:
 * connection and authorization failures are retried (with a growing delay); anything else is fatal.
 */
async function startWhenBusReachable(start: () => Promise<AgentHandle>): Promise<AgentHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      const text = `${(e as Error)?.name ?? ''} ${(e as Error)?.message ?? e}`;
      if (!/connection|authori[sz]ation|timeout|ECONNREFUSED|no responders/i.test(text)) throw e;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
      process.stderr.write(`${JSON.stringify({ level: 40, msg: 'NATS not reachable yet, retrying', err: text.slice(0, 300), attempt, delayMs: delay })}\n`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

main().catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
  process.exit(2);
});
