/** `npm run bench`: every figure is printed next to the raw engine measured in the same run. */
import { benchControlPlane } from './control-plane.bench';

async function main() {
  const only = process.argv[2];
  if (!only || only === 'control-plane') await benchControlPlane();
  if (!only || only === 'node-agent') {
    const { benchNodeAgent } = await import('./node-agent.bench');
    await benchNodeAgent();
  }
  if (!only || only === 'convergence') {
    const { benchConvergence } = await import('./convergence.bench');
    await benchConvergence();
  }
  // Minutes long and heavy: only when asked for by name.
  if (only === 'scale') {
    const { benchScale } = await import('./scale.bench');
    await benchScale();
  }
}
void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
