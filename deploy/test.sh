#!/usr/bin/env bash
# The whole test suite: unit (deciders, renderers, parsers), integration (real NATS JetStream + Postgres)
# and e2e (the product over HTTP on a real BGP lab in network namespaces, as root).
# Each run uses its own stream names, databases and lab prefixes and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/ensure-deps.sh
npm run --silent typecheck  # type gate: tsc --noEmit over every project (tsconfig.base.json, then the dashboard with its DOM settings)
npm run --silent lint          # lint gate: type-aware typescript-eslint (eslint.config.mjs)
npm run --silent format:check  # format gate: Prettier in check mode (.prettierrc); npm run format rewrites
node -r ./deploy/register.js deploy/infra.ts >/dev/null
if [ $# -gt 0 ]; then exec npx jest --ci --maxWorkers=2 "$@"; fi
# Unit and integration tests two at a time; then the lab and e2e suites one at a time: each runs a whole lab
# (BIRD, FRR, agents, services, bursts of VMs), and two of them at once starve each other's daemons on 2 cores.
# Every jest project (jest.config.js) must be named here.
rc=0
npx jest --ci --maxWorkers=2 --selectProjects unit integration || rc=$?
npx jest --ci --runInBand --selectProjects lab e2e || rc=$?
exit $rc
