#!/usr/bin/env bash
# Bundles each API document of api/ with the components it references in other files
# (api/common.yaml, api/event-schemas.yaml) into one self-contained JSON file in api/bundled/: the
# documents the services serve and oapi-codegen generates from. tools/apibundle keeps every
# scalar as written (docs/adr/0009-shared-components.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin api/bundled
go build -o bin/apibundle ./tools/apibundle
for doc in product-service order-service event-schemas events; do
  bin/apibundle -o "api/bundled/$doc.json" "api/$doc.yaml"
done
