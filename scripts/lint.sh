#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned as a Go tool in tools/go.mod) over every module.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l "$@" 2>/dev/null | grep -v '/node_modules/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
for m in "$@"; do
  [ -f "$m/go.mod" ] || continue
  (cd "$m" && go vet ./... && go tool staticcheck ./...)
done
echo "lint: ok"
