/** `npm run bench`: every figure is printed next to the raw engine measured in the same run. */
import { benchControlPlane } from './control-plane.bench';
import { printSummary } from './summary';

const BENCHES = ['convergence', 'control-plane', 'node-agent', 'scale', 'evpn'];
const USAGE = `usage: npm run bench [-- <name>]
  no name: convergence, control-plane, node-agent, then the issue 10 summary table
  <name>:  one of ${BENCHES.join(', ')} (scale and evpn run only when named; minutes long)
Run it as root under the heavy lock (it builds a lab); environment knobs: bench/README.md.`;

async function main() {
  const only = process.argv[2];
  if (only === '--help' || only === '-h') {
    console.log(USAGE);
    return;
  }
  if (only !== undefined && !BENCHES.includes(only)) throw new Error(`unknown bench ${only}\n${USAGE}`);
  // The control-plane bench runs inventory and IPAM in this process: their info logs would bury the figures.
  process.env.LOG_LEVEL ??= 'warn';
  try {
    await benches();
  } finally {
    printSummary();
  }
}

async function benches() {
  const only = process.argv[2];
  // The lab first: the headline figures (and its stage breakdown) come out before the longer engine benches.
  if (!only || only === 'convergence') {
    const { benchConvergence } = await import('./convergence.bench');
    await benchConvergence();
  }
  if (!only || only === 'control-plane') await benchControlPlane();
  if (!only || only === 'node-agent') {
    const { benchNodeAgent } = await import('./node-agent.bench');
    await benchNodeAgent();
  }
  // Minutes long and heavy: only when asked for by name.
  if (only === 'scale') {
    const { benchScale } = await import('./scale.bench');
    await benchScale();
  }
  if (only === 'evpn') {
    const { benchEvpn } = await import('./evpn.bench');
    await benchEvpn();
  }
}
void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
