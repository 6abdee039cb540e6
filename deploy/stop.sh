#!/usr/bin/env bash
# Stops the services, agents and the lab (add --all to stop our own NATS/Postgres too).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node -r ./deploy/register.js deploy/launcher.ts stop "$@"
