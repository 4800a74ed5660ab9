#!/usr/bin/env bash
# Usage: scripts/go-test-json.sh MODULE [COVERPKG]
# The `go test -json` of one module that scripts/test.sh hands to gotestsum (--raw-command). With
# COVERPKG it measures coverage over those packages (every module's) into coverage/MODULE.out;
# without, the module is tested on its own (GOWORK=off: its dependencies must not move the
# workspace's versions). Two kinds of noise are dropped on the way, nothing else:
#   - go test's per-package "coverage: x% of statements in <every package of every module>"
#     lines (kilobytes each, and meaningless alone: the merged figure is what counts, see
#     tools/covermerge) and its "ok"/"?" package lines, which gotestsum does not need;
#   - the "no packages being tested depend on matches for pattern" warnings -coverpkg causes.
set -euo pipefail
cd "$(dirname "$0")/.."
m=$1 coverpkg=${2:-}
GOTEST_FLAGS=${GOTEST_FLAGS:--race -count=1 -timeout 15m}
root=$PWD
cd "$m"
args=()
if [ -n "$coverpkg" ]; then
  args=(-coverpkg="$coverpkg" -coverprofile="$root/coverage/${m//\//-}.out")
  # The e2e module builds the services with the same -coverpkg, so what the running binaries
  # execute is folded into coverage/e2e-services.out.
  export E2E_COVERPKG=$coverpkg E2E_COVERPROFILE="$root/coverage/${m//\//-}-services.out"
else
  export GOWORK=off
fi
quiet_stderr() { grep -v --line-buffered 'no packages being tested depend on matches for pattern' >&2 || true; }
# shellcheck disable=SC2086 # GOTEST_FLAGS is a list of flags
go test -json $GOTEST_FLAGS "${args[@]}" ./... 2> >(quiet_stderr) |
  { grep -v --line-buffered -E -e '"Output":"[^"]*coverage: ([0-9.]+% of statements|\[no statements\])' \
    -e '"Output":"(ok  |\?   )\\t' || true; }
