#!/usr/bin/env bash
# Installs the API document tools pinned in tools/apilint/package-lock.json (Redocly CLI, Spectral
# with the OWASP ruleset, the AsyncAPI parser) when they are missing or the lock file changed.
# Used by scripts/bundle.sh (make generate, make check-generated) and scripts/lint.sh.
set -euo pipefail
cd "$(dirname "$0")/../tools/apilint"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
