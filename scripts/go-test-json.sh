#!/usr/bin/env bash
# Usage: scripts/go-test-json.sh MODULE [COVERPKG]
# The `go test -json` of one module that scripts/test.sh hands to gotestsum (--raw-command). With
# COVERPKG (a pattern: every workspace module's packages) it measures coverage over those packages
# into coverage/MODULE.out; without, the module is tested on its own (GOWORK=off: its dependencies
# must not move the workspace's versions). go test's per-package "coverage: …" lines (a share of
# the statements of whatever the test binary links, meaningless alone: the merged figure of the
# coverage stage is what counts) and its "ok"/"?" package lines, which gotestsum does not need,
# are dropped on the way; nothing else is.
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
# shellcheck disable=SC2086 # GOTEST_FLAGS is a list of flags
go test -json $GOTEST_FLAGS "${args[@]}" ./... |
  { grep -v --line-buffered -E -e '"Output":"[^"]*coverage: ([0-9.]+% of statements|\[no statements\])' \
    -e '"Output":"(ok  |\?   )\\t' || true; }
