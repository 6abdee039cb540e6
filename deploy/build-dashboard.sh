#!/usr/bin/env bash
# Builds the operator dashboard (dashboard/dist, served by the gateway at /) when it is missing or older than its sources.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dashboard/dist/index.html
if [ -f "$out" ] && [ -z "$(find dashboard/src dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json package-lock.json -newer "$out" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "[ip-fabric] building the dashboard (vite)" >&2
npx vite build dashboard --logLevel warn
# vite keeps the old mtime on an unchanged index.html: mark the build as fresh.
touch "$out"
