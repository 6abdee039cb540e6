#!/usr/bin/env bash
# Starts the whole product: installs what is missing, NATS/Postgres (ours if none answers), the services,
# and — as root — the lab fabric in network namespaces. Configuration: see README (environment variables).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/ensure-deps.sh
bash deploy/build-dashboard.sh
exec node -r ./deploy/register.js deploy/launcher.ts start
