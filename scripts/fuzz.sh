#!/usr/bin/env bash
# Runs every Go fuzz target of every module for FUZZTIME each (default 5s; use 30s+ locally to
# hunt): one line per target. A target that finds a failing input prints go's report (the input
# is saved under testdata/fuzz/, with the command that replays it); the others still run, and the
# last line names every target that failed. The committed seed corpora in testdata/fuzz also run
# as plain tests in `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}
ran=0 failed=()
for m in "$@"; do
  [ -f "$m/go.mod" ] || continue
  while IFS= read -r file; do
    dir=$(dirname "$file")
    while IFS= read -r target; do
      ran=$((ran + 1))
      if out=$(cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" . 2>&1); then
        echo "✓ $dir $target"
      else
        echo "✖ $dir $target"
        echo "$out" | grep -v '^fuzz: elapsed' | sed 's/^/    /'
        failed+=("$dir $target")
      fi
    done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\).*/\1/p' "$file")
  done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' "$m" || true)
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of $ran targets found a failing input: ${failed[*]}"
  exit 1
fi
echo "fuzz: $ran targets, $FUZZTIME each, no failing input"
