#!/usr/bin/env bash
# What `make test` runs, stage by stage: the services it needs, the generated code, lint, each
# module's tests (against the machine's real MariaDB, Redis and RabbitMQ), the coverage over all
# of them and its floor, the k6 scripts, a short fuzzing run and the README walkthrough on the
# real ports. Each stage says what it checks and how it ended; a failing stage does not stop the
# next ones (but without the services nothing else can run). Then a summary: every stage with its
# result and time, the skipped and failed tests by name (gotestsum, pinned in tools/go.mod), the
# counts of passed, failed and skipped tests, and — last — "all tests passed" or what failed.
# Each stage's whole output is kept in test-logs/<stage>.log.
#
# Usage: scripts/test.sh [--stages LIST] MODULE...
#   LIST is comma-separated, among: generated lint go coverage k6 fuzz walkthrough (default: all)
# Environment: GOTEST_FLAGS (default -race -count=1 -timeout 15m), FUZZTIME (default 3s),
#   COVER_PACKAGES=true (per-package coverage figures), STANDALONE_MODULES (default
#   "infra examples": modules outside go.work, tested with GOWORK=off and outside coverage).
set -uo pipefail # not -e: a failing stage is recorded and the next one runs
cd "$(dirname "$0")/.." || exit
trap 'exit 130' INT TERM

stages=generated,lint,go,coverage,k6,fuzz,walkthrough
if [ "${1:-}" = --stages ]; then
  stages=$2
  shift 2
fi
wanted() { [[ ",$stages," == *",$1,"* ]]; }
modules=("$@")
standalone=" ${STANDALONE_MODULES:-infra examples} "

logs=test-logs
rm -rf "$logs" coverage
mkdir -p "$logs" coverage
root=$PWD
started=$SECONDS
names=() results=() times=() details=()

human() { # seconds → 42s, 3m07s
  if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}

# run_stage NAME WHAT SUMMARY_PATTERN COMMAND...
# Runs COMMAND with its output on the terminal (indented) and in test-logs/NAME.log. The stage's
# line in the summary is the last output line matching SUMMARY_PATTERN (grep -E; empty: the last
# line). Exit status 0 is ok, 77 skipped (the last line says why), anything else FAILED.
run_stage() {
  local name=$1 what=$2 pattern=$3 log start rc result detail=""
  shift 3
  log="$logs/${name// /-}.log"
  start=$SECONDS
  printf '\n── %s: %s\n' "$name" "$what"
  "$@" 2>&1 | tee "$log" | sed -u 's/^./   &/'
  rc=${PIPESTATUS[0]}
  case $rc in
    0) result=ok ;;
    77) result=skipped ;;
    *) result=FAILED ;;
  esac
  if [ -n "$pattern" ] && [ "$result" = ok ]; then detail=$(grep -E "$pattern" "$log" | tail -1); fi
  if [ -z "${detail:-}" ]; then detail=$(grep -v '^[[:space:]]*$' "$log" | tail -1); fi
  detail=$(sed -E 's/^DONE (.*) in [0-9.]+s$/\1/' <<<"$detail") # gotestsum's totals
  names+=("$name") results+=("$result") times+=($((SECONDS - start))) details+=("$detail")
  printf '   → %s %s (%s)\n' "$name" "$result" "$(human $((SECONDS - start)))"
  return "$rc"
}

# --- the stages --------------------------------------------------------------------------------

run_stage services "MariaDB, Redis and RabbitMQ reachable on localhost; databases and users created" \
  'databases' infra/local/up.sh ||
  { echo "make test: FAILED — the services the tests need are not there (see above)"; exit 1; }

if wanted generated; then
  run_stage check-generated "the committed API bundles (api/bundled) and *.gen.go equal a fresh 'make generate' of api/*.yaml" '' \
    scripts/check-generated.sh clients product-service order-service
fi

if wanted lint; then
  run_stage lint "gofmt, go vet, staticcheck and sloglint on every module; the API documents through Redocly, Spectral (OWASP) and the AsyncAPI parser" '' \
    scripts/lint.sh "${modules[@]}"
fi

has_go() { [ -f "$1/go.mod" ] && [ -n "$(find "$1" -name '*.go' -not -path '*/node_modules/*' -print -quit)" ]; }

describe() { # what the tests of a module check
  case $1 in
    api) echo "the OpenAPI and AsyncAPI documents load, validate and are embedded" ;;
    clients) echo "the SDK: money, request-ID propagation, transport" ;;
    platform) echo "shared HTTP middleware, problem writer, AMQP, outbox relay, group commit, caches — on the real MariaDB, Redis, RabbitMQ" ;;
    product-service | order-service) echo "domain, handlers (every response validated against the spec), MySQL, Redis and RabbitMQ adapters" ;;
    e2e) echo "both services as real processes, driven through the generated clients; Swagger UI in headless Chromium" ;;
    k6) echo "the load runner: scenarios, reports, invariant checks" ;;
    infra) echo "docker compose and Kubernetes manifests validated offline; shell scripts (bash -n, shellcheck)" ;;
    tools) echo "covermerge (the coverage merge) and apibundle (the API bundles)" ;;
    examples) echo "the README's Go SDK block and go.mod lines are examples/sdk/main.go and examples/go.mod" ;;
    *) echo "go test ./..." ;;
  esac
}

go_module() { # MODULE COVERPKG: one line per package, failed tests' output at once, the totals
  (cd "$1" && "$root/bin/gotestsum" --format pkgname-and-test-fails --format-hide-empty-pkg \
    --hide-summary=skipped,failed --jsonfile "$root/$logs/go-${1//\//-}.json" \
    --raw-command -- "$root/scripts/go-test-json.sh" "$1" "$2")
}

# Coverage is measured over the packages of ALL workspace modules (not the standalone ones), so
# code exercised through another module or a running service (the e2e tests build the services
# with the same -coverpkg) counts. Each test binary instruments the ones it links; the union of
# every module's profile (the coverage stage) covers them all: packages without tests included.
coverpkg=github.com/shopworks/shop/...

if wanted go; then
  go build -o bin/gotestsum gotest.tools/gotestsum || exit 1
  for m in "${modules[@]}"; do
    has_go "$m" || continue
    cover=$coverpkg
    [[ $standalone == *" $m "* ]] && cover=""
    run_stage "go test $m" "$(describe "$m")" '^DONE' \
      go_module "$m" "$cover"
  done
fi

merge_coverage() {
  go build -o bin/covermerge ./tools/covermerge &&
    bin/covermerge -packages="${COVER_PACKAGES:-false}" -o coverage/merged.out -floor .coverage-floor coverage/*.out
}
if wanted coverage; then
  run_stage coverage "statements of hand-written code (not *.gen.go) run by any test, merged over all modules; floor in .coverage-floor" \
    '^total:' merge_coverage
fi

k6_scripts() {
  local f n=0
  for f in k6/*.js; do
    [ -e "$f" ] || continue
    node --experimental-default-type=module --check "$f" || { echo "k6 scripts: $f does not parse"; return 1; }
    n=$((n + 1))
  done
  echo "k6 scripts: $n parse as ES modules"
}
if wanted k6; then
  run_stage "k6 scripts" "the original k6 scripts parse (node --check)" '' k6_scripts
fi

if wanted fuzz; then
  run_stage fuzz "every Go fuzz target for ${FUZZTIME:-3s}" '' env FUZZTIME="${FUZZTIME:-3s}" \
    scripts/fuzz.sh "${modules[@]}"
fi

if wanted walkthrough; then
  run_stage walkthrough "the README followed on the real ports: make run, the quick start twice (on a used database), Swagger UI, /metrics, the Go SDK example, every load target, profiling" \
    '' scripts/readme-walkthrough.sh
fi

# --- the summary -------------------------------------------------------------------------------

printf '\n── summary\n'
passed=0 failed=0 skipped=0
shopt -s nullglob
jsons=("$logs"/go-*.json)
if [ ${#jsons[@]} -gt 0 ]; then
  # gotestsum reads every module's events again and prints the skipped tests with their reason,
  # the failed ones with their output, and the totals (DONE …).
  bin/gotestsum --raw-command --format standard-quiet -- cat "${jsons[@]}" >"$logs/tests.txt" 2>&1
  sed 's/^./   &/' "$logs/tests.txt"
  done_line=$(grep '^DONE' "$logs/tests.txt" | tail -1)
  total=$(sed -nE 's/^DONE( [0-9]+ runs,)? ([0-9]+) tests.*/\2/p' <<<"$done_line")
  skipped=$(grep -oE '[0-9]+ skipped' <<<"$done_line" | cut -d' ' -f1)
  failed=$(grep -oE '[0-9]+ failures?' <<<"$done_line" | cut -d' ' -f1)
  skipped=${skipped:-0} failed=${failed:-0}
  passed=$((${total:-0} - skipped - failed))
fi
echo
failures=()
for i in "${!names[@]}"; do
  printf '   %-24s %-8s %7s  %s\n' "${names[$i]}" "${results[$i]}" "$(human "${times[$i]}")" "${details[$i]}"
  if [ "${results[$i]}" = FAILED ]; then failures+=("${names[$i]}: ${details[$i]}"); fi
done
printf '   %-24s %-8s %7s\n' total "" "$(human $((SECONDS - started)))"
echo "   full output of each stage: $logs/"
failed_tests=$(sed -nE 's/^=== FAIL: ([^ ]+) ([^ ]+).*/\2 (\1)/p' "$logs/tests.txt" 2>/dev/null |
  sed 's|github.com/shopworks/shop/||' | head -8 | paste -sd, - | sed 's/,/, /g')
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ ${#failures[@]} -gt 0 ]; then
  echo "make test FAILED:"
  for f in "${failures[@]}"; do echo "  - $f"; done
  if [ -n "$failed_tests" ]; then echo "  - failed tests: $failed_tests"; fi
  exit 1
fi
echo "all tests passed"
