#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned as a Go tool in tools/go.mod) over every module.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l "$@" 2>/dev/null | grep -v '/node_modules/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
# staticcheck is pinned in tools/go.mod; built once so that standalone modules (GOWORK=off) can use it.
staticcheck=$PWD/bin/staticcheck
go build -o "$staticcheck" honnef.co/go/tools/cmd/staticcheck
standalone=" ${STANDALONE_MODULES:-infra} "
for m in "$@"; do
  [ -f "$m/go.mod" ] && [ -n "$(find "$m" -name "*.go" -not -path "*/node_modules/*" -print -quit)" ] || continue
  if [[ $standalone == *" $m "* ]]; then
    (cd "$m" && GOWORK=off go vet ./... && GOWORK=off "$staticcheck" ./...)
  else
    (cd "$m" && go vet ./... && "$staticcheck" ./...)
  fi
done
echo "go lint: ok"

# API documents, sources and the bundles the services serve: Redocly (recommended), Spectral (oas,
# asyncapi, OWASP; tools/apilint/.spectral.yaml) and the AsyncAPI parser, with tool versions pinned
# in tools/apilint/package-lock.json (installed once; reinstalled when the lock changes).
apilint=tools/apilint
if [ ! -d "$apilint/node_modules" ] || [ "$apilint/package-lock.json" -nt "$apilint/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$apilint" --no-audit --no-fund --loglevel=error
fi
npm run --prefix "$apilint" -s lint
echo "api lint: ok"
