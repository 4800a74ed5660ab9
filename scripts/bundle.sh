#!/usr/bin/env bash
# Bundles each API document of api/ with what it references (api/common.yaml, and
# api/event-schemas.yaml for the events) into one self-contained JSON file in api/bundled/: the
# documents the services serve and oapi-codegen generates from (docs/adr/0008-shared-components.md).
# The bundler is Redocly CLI, pinned in tools/apilint/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apitools.sh
redocly=tools/apilint/node_modules/.bin/redocly
mkdir -p api/bundled
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for doc in product-service order-service event-schemas events; do
  # Redocly talks on stderr even when all is well (progress, a Node.js deprecation banner): shown on failure only.
  if ! "$redocly" bundle --config tools/apilint/redocly.yaml "api/$doc.yaml" -o "api/bundled/$doc.json" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
done
