#!/usr/bin/env bash
# Runs every module's tests against the machine's real MariaDB, Redis and RabbitMQ (started by
# infra/local/up.sh when they are not running), with coverage measured over the hand-written
# packages of ALL modules (so code exercised through another module or a running service counts),
# then merges the profiles and enforces the committed floor (.coverage-floor).
set -euo pipefail
cd "$(dirname "$0")/.."
GOTEST_FLAGS=${GOTEST_FLAGS:--race -count=1 -timeout 15m}
if [ -x infra/local/up.sh ]; then infra/local/up.sh; fi

mkdir -p coverage
rm -f coverage/*.out
# Modules outside go.work (infra: offline validators with heavy k8s/compose dependencies that
# must not move the services' dependency versions) are tested on their own.
standalone=" ${STANDALONE_MODULES:-infra} "
coverpkg=$(for m in "$@"; do
  [ -f "$m/go.mod" ] && [ -n "$(find "$m" -name "*.go" -print -quit)" ] && [[ $standalone != *" $m "* ]] && (cd "$m" && go list ./...)
done | paste -sd, -)
failed=()
for m in "$@"; do
  [ -f "$m/go.mod" ] && [ -n "$(find "$m" -name "*.go" -not -path "*/node_modules/*" -print -quit)" ] || continue
  echo "=== go test $m"
  if [[ $standalone == *" $m "* ]]; then
    # shellcheck disable=SC2086
    (cd "$m" && GOWORK=off go test $GOTEST_FLAGS ./...) || failed+=("$m")
    continue
  fi
  # The e2e module builds the services with the same -coverpkg, so what the running binaries
  # execute is folded into coverage/e2e-services.out.
  # shellcheck disable=SC2086
  if ! (cd "$m" && E2E_COVERPKG="$coverpkg" E2E_COVERPROFILE="$PWD/../coverage/$m-services.out" \
        go test $GOTEST_FLAGS -coverpkg="$coverpkg" -coverprofile="../coverage/$m.out" ./...); then
    failed+=("$m")
  fi
done
for f in k6/*.js; do
  [ -e "$f" ] || continue
  node --experimental-default-type=module --check "$f" || failed+=("$f")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
go run ./tools/covermerge -o coverage/merged.out -floor .coverage-floor coverage/*.out
echo "all tests passed"
