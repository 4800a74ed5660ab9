#!/usr/bin/env bash
# Follows the README as a newcomer would, on the real ports and the real productdb/orderdb, which
# may already hold data: `make run`; the quick start's bash block, read from README.md and pasted
# as written, twice — the second time after deleting the product the first paste created, when the
# database holds many products (the load runs create them); Swagger UI; the order becoming
# CONFIRMED and the stock dropping; /metrics; the Go SDK example as the README runs it; every
# load target briefly; a CPU profile of each service. Each check prints what it checked; a failed
# one prints what it expected and what it got, and the last line names it.
# Exit status 77 (skipped): outside CI, ports 3000/4000 are taken (by your own `make run`).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=0
step() {
  steps=$((steps + 1))
  printf '✓ %s\n' "$*"
}
fail() {
  trap - ERR
  printf '✖ %s\n' "$@" | sed '2,$s/^✖ /  /'
  echo "readme-walkthrough: FAILED: $1"
  exit 1
}
trap 'fail "line $LINENO: \`$BASH_COMMAND\` exited $?"' ERR
# expect WHAT WANT GOT: GOT contains WANT.
expect() {
  [[ $3 == *"$2"* ]] || fail "$1" "expected: …$2…" "got: ${3:0:600}"
}
# json_field NAME JSON: the first numeric or string value of "NAME": in JSON.
json_field() { grep -oE "\"$1\":(\"[^\"]*\"|[0-9.]+)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"' || true; }
# readme_block LINE LANG: the first ```LANG block of README.md after the line that starts with LINE.
readme_block() {
  awk -v start="$1" -v fence="\`\`\`$2" 'index($0, start) == 1 {f=1} f && $0 == fence {b=1; next} b && /^```$/ {exit} b' README.md
}

for port in 3000 4000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    why="port $port is busy (is 'make run' already running? stop it to let make test follow the README)"
    [ "${CI:-}" = true ] && fail "$why"
    echo "readme-walkthrough: skipped: $why"
    exit 77
  fi
done

log=$(mktemp)
scratch=$(mktemp -d)
# With the pprof listeners of the README's "Profiling" paragraph.
ORDER_PPROF_ADDR=127.0.0.1:6062 PRODUCT_PPROF_ADDR=127.0.0.1:6061 setsid make run >"$log" 2>&1 &
runpid=$!
stop() {
  kill -TERM -- "-$runpid" 2>/dev/null || true
  wait "$runpid" 2>/dev/null || true
  rm -rf "$log" "$scratch"
}
trap stop EXIT
for _ in $(seq 1 600); do # make run builds both binaries first
  curl -fs localhost:3000/readyz >/dev/null 2>&1 && curl -fs localhost:4000/readyz >/dev/null 2>&1 && break
  kill -0 "$runpid" 2>/dev/null || break
  sleep 0.5
done
if ! curl -fs localhost:3000/readyz >/dev/null || ! curl -fs localhost:4000/readyz >/dev/null; then
  fail "make run: both services ready within 5 minutes" "got, the last lines of make run:" "$(tail -30 "$log")"
fi
step "make run: both services ready"

# The quick start's bash block, exactly as written in README.md.
quickstart=$(readme_block 'Then, in another terminal' bash)
[ -n "$quickstart" ] || fail "README.md has a quick-start bash block after 'Then, in another terminal'"

# paste_quickstart RUN: pastes the block, checks every answer, sets $product_id and $order_id.
paste_quickstart() {
  local run=$1 out lines product order bff health
  out=$(bash -euo pipefail -c "$quickstart" 2>&1) || fail "quick start ($run): the block ran without error" "got:" "$out"
  mapfile -t lines <<<"$out"
  [ ${#lines[@]} -eq 4 ] || fail "quick start ($run): four answers (product, order, BFF, health)" "got ${#lines[@]} lines:" "$out"
  product=${lines[0]} order=${lines[1]} bff=${lines[2]} health=${lines[3]}
  expect "quick start ($run): POST /products answers the product" '"name":"BFF Test"' "$product"
  product_id=$(json_field id "$product")
  [ -n "$product_id" ] || fail "quick start ($run): the product has an id" "got: $product"
  expect "quick start ($run): POST /orders orders the product just created (id $product_id)" \
    "\"productId\":$product_id," "$order"
  expect "quick start ($run): the order is accepted as PENDING" '"status":"PENDING"' "$order"
  order_id=$(json_field orderId "$order")
  expect "quick start ($run): the BFF shows product $product_id" "\"id\":$product_id,\"name\":\"BFF Test\"" "$bff"
  expect "quick start ($run): the BFF lists order $order_id" "\"id\":$order_id,\"productId\":$product_id" "$bff"
  expect "quick start ($run): the BFF reached order-service" '"ordersDegraded":false' "$bff"
  expect "quick start ($run): GET /health" '{"status":"order-service up"}' "$health"
  step "quick start ($run): product $product_id created, order $order_id PENDING, BFF and /health answer"
}

paste_quickstart "1st paste"
first_product=$product_id

expect "Swagger UI on :3000" swagger-ui-bundle.js "$(curl -fs localhost:3000/docs)"
expect "Swagger UI on :4000" swagger-ui-bundle.js "$(curl -fs localhost:4000/docs)"
step "Swagger UI served on both ports"

# The order becomes CONFIRMED and the product's stock drops by its qty.
status=PENDING
for _ in $(seq 1 100); do
  status=$(json_field status "$(curl -fs "localhost:4000/orders/$order_id")")
  [ "$status" != PENDING ] && break
  sleep 0.1
done
[ "$status" = CONFIRMED ] || fail "order $order_id becomes CONFIRMED within 10 s" "got: $status"
qty=$(json_field qty "$(curl -fs "localhost:3000/products/$first_product")")
[ "$qty" = 48 ] || fail "product $first_product's stock drops from 50 to 48" "got: $qty"
step "order $order_id CONFIRMED, product $first_product's stock 50 → 48"
expect "/metrics counts the POST /orders" 'shop_http_requests_total{method="POST",route="/orders",status="201"}' \
  "$(curl -fs localhost:4000/metrics)"
step "/metrics counts the order"

# The Go SDK example, run as the README says.
sdk_cmd=$(readme_block '## Go SDK' bash)
[ -n "$sdk_cmd" ] || fail "README.md's Go SDK section has a bash block (the command that runs examples/sdk)"
sdk_out=$(bash -euo pipefail -c "$sdk_cmd" 2>&1) || fail "Go SDK example: \`$sdk_cmd\` succeeds" "got:" "$sdk_out"
expect "Go SDK example: the order is placed and confirmed" ' CONFIRMED 39.98' "$sdk_out"
step "Go SDK example (\`$sdk_cmd\`): <id> CONFIRMED 39.98"

# Every load target of the README, briefly, with its invariant check.
load() {
  local out
  if ! out=$(make "$@" 2>&1); then
    fail "make $*: runs and its invariants hold" "got, its last lines:" "$(tail -25 <<<"$out")"
  fi
  step "make $1 (brief): ran, invariants hold"
}
load load TUNE= LOAD_FLAGS="-rate 50 -warm 0 -duration 2s -out $scratch/load"
load load-steady TUNE= RATE=50 LOAD_FLAGS="-warm 1s -duration 2s -out $scratch/steady"
load load-mixed TUNE= LOAD_FLAGS="-rate 50 -warm 0 -duration 2s -out $scratch/mixed"
load load-overload TUNE= RATE=60 LOAD_FLAGS="-base-rate 20 -warm 1s -duration 2s -recovery 5s -out $scratch/overload"
load load-max TUNE= LOAD_FLAGS="-step 1s -out $scratch/max"
load bench-baseline RATE=100 DURATION=1s LOAD_FLAGS="-out $scratch/baseline"

# Profiling as the README shows it: a CPU profile of each service through go tool pprof.
for port in 6062 6061; do
  prof=$(PPROF_TMPDIR=$scratch go tool pprof -top "http://127.0.0.1:$port/debug/pprof/profile?seconds=1" 2>&1) ||
    fail "go tool pprof of :$port" "got:" "$prof"
  expect "go tool pprof of :$port fetches a CPU profile" 'Type: cpu' "$prof"
done
step "CPU profile of each service through its pprof listener"

# The quick start again, on a database that now holds many products, after deleting the one the
# first paste created (on a brand-new database: product 1).
listed=$(curl -fs "localhost:3000/products?limit=2")
[ "$(grep -o '"id":' <<<"$listed" | wc -l)" -eq 2 ] ||
  fail "the database holds products before the 2nd paste (GET /products?limit=2 lists two)" "got: $listed"
deleted=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "localhost:3000/products/$first_product")
[ "$deleted" = 200 ] || fail "DELETE /products/$first_product answers 200" "got: $deleted"
gone=$(curl -s -o /dev/null -w '%{http_code}' "localhost:3000/products/$first_product")
[ "$gone" = 404 ] || fail "product $first_product is gone after DELETE" "got: GET answers $gone"
step "product $first_product deleted; the database holds other products"
paste_quickstart "2nd paste"
[ "$product_id" != "$first_product" ] || fail "the 2nd paste creates a new product" "got: id $product_id again"

echo "readme-walkthrough: all $steps steps ok"
