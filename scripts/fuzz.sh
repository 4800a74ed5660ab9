#!/usr/bin/env bash
# Runs every Go fuzz target of every module for FUZZTIME each (default 5s; use 30s+ locally to
# hunt). The committed seed corpora in testdata/fuzz also run as plain tests in `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
for m in "$@"; do
  [ -f "$m/go.mod" ] || continue
  while IFS= read -r file; do
    dir=$(dirname "$file")
    for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$file" | sed -E 's/func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
      echo "=== fuzz $dir $target ($FUZZTIME)"
      (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" .)
    done
  done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' "$m" || true)
done
