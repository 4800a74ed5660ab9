#!/usr/bin/env bash
# Runs every module's tests against the machine's real MariaDB, Redis and RabbitMQ (started by
# infra/local/up.sh when they are not running), then the offline checks of the k6 scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
GOTEST_FLAGS=${GOTEST_FLAGS:--race -count=1 -timeout 15m}
if [ -x infra/local/up.sh ]; then infra/local/up.sh; fi
failed=()
for m in "$@"; do
  [ -f "$m/go.mod" ] || continue
  echo "=== go test $m"
  # shellcheck disable=SC2086
  if ! (cd "$m" && go test $GOTEST_FLAGS ./...); then failed+=("$m"); fi
done
if compgen -G "k6/*.js" >/dev/null; then
  for f in k6/*.js; do node --check "$f" || failed+=("$f"); done
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all tests passed"
