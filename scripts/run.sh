#!/usr/bin/env bash
# Runs both services in the foreground against the local MariaDB, Redis and RabbitMQ (see
# infra/local/up.sh). Each service applies its migrations at start. Ctrl-C stops both cleanly.
# Both log JSON lines to stdout; the "service" field says which one wrote a line.
# PRODUCT_PPROF_ADDR / ORDER_PPROF_ADDR (e.g. 127.0.0.1:6061) turn on each one's pprof listener.
# Each service logs in to RabbitMQ as its own least-privilege user (created by `make infra` from
# infra/rabbitmq/definitions.json); PRODUCT_RABBIT_URL / ORDER_RABBIT_URL, or RABBIT_URL for both,
# override that.
set -euo pipefail
cd "$(dirname "$0")/.."

export LOG_LEVEL=${LOG_LEVEL:-info}
pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

PORT=${PRODUCT_PORT:-3000} PPROF_ADDR=${PRODUCT_PPROF_ADDR:-} \
DATABASE_URL=${DATABASE_URL:-mysql://product:product@127.0.0.1:3306/productdb} \
RABBIT_URL=${PRODUCT_RABBIT_URL:-${RABBIT_URL:-amqp://product-service:product-service@127.0.0.1:5672/}} \
ORDERS_BASE=${ORDERS_BASE:-http://127.0.0.1:${ORDER_PORT:-4000}} \
  bin/product-service &
pids+=($!)
PORT=${ORDER_PORT:-4000} PPROF_ADDR=${ORDER_PPROF_ADDR:-} \
MYSQL_DSN=${MYSQL_DSN:-order:order@tcp(127.0.0.1:3306)/orderdb?parseTime=true} \
RABBIT_URL=${ORDER_RABBIT_URL:-${RABBIT_URL:-amqp://order-service:order-service@127.0.0.1:5672/}} \
PRODUCT_BASE_URL=${PRODUCT_BASE_URL:-http://127.0.0.1:${PRODUCT_PORT:-3000}} \
  bin/order-service &
pids+=($!)

for url in "http://127.0.0.1:${PRODUCT_PORT:-3000}/healthz" "http://127.0.0.1:${ORDER_PORT:-4000}/healthz"; do
  for _ in $(seq 1 100); do curl -fs "$url" >/dev/null 2>&1 && break; sleep 0.2; done
done
cat <<MSG

  product-service  http://localhost:${PRODUCT_PORT:-3000}   Swagger UI: http://localhost:${PRODUCT_PORT:-3000}/docs
  order-service    http://localhost:${ORDER_PORT:-4000}   Swagger UI: http://localhost:${ORDER_PORT:-4000}/docs
  metrics          /metrics on both;  readiness /readyz on both

  Ctrl-C stops both.
MSG
wait -n "${pids[@]}" || true
