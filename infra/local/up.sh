#!/usr/bin/env bash
# Makes MariaDB (or MySQL) on 127.0.0.1:3306, Redis on 127.0.0.1:6379 and RabbitMQ on
# 127.0.0.1:5672 reachable on a machine without Docker, then creates the services' databases and
# users (infra/mysql/init.sql) and their broker users with least-privilege permissions
# (infra/rabbitmq/definitions.json). Used by `make infra`, scripts/test.sh and .ci/run.
#
# For each server: reachable -> left alone; installed but stopped -> started; not installed ->
# installed with apt-get (Debian), then started. Every wait is bounded and fails with a message
# that says what to look at. Safe to run any number of times.
#
# Environment (all optional):
#   MYSQL_ROOT_USER, MYSQL_ROOT_PASSWORD  connect as this account over TCP instead of as root
#                                         over the socket (unix_socket authentication)
#   INFRA_WAIT_SECONDS                    how long to wait for each server (default 60)
#
# There is no down.sh on purpose: these are the machine's shared servers (other checkouts and
# CI use them too), so nothing here stops them or drops data.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
init_sql="$here/../mysql/init.sql"
rabbit_definitions="$here/../rabbitmq/definitions.json"
wait_seconds=${INFRA_WAIT_SECONDS:-60}

readonly MYSQL_PORT=3306 REDIS_PORT=6379 RABBIT_PORT=5672

log() { printf 'infra: %s\n' "$*" >&2; }
die() {
  printf 'infra: ERROR: %s\n' "$*" >&2
  exit 1
}

# Root for starting daemons and installing packages: ourselves when root, else sudo.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: cannot start or install servers"
  as_root=(sudo)
fi

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  # shellcheck disable=SC2016 # $1 is expanded by the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# wait_port NAME PORT HINT: wait up to $wait_seconds for the port, or fail with HINT.
wait_port() {
  local name=$1 port=$2 hint=$3 deadline=$((SECONDS + wait_seconds))
  until port_open "$port"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "$name is not reachable on 127.0.0.1:$port after ${wait_seconds}s; $hint"
    fi
    sleep 1
  done
  log "$name is up on 127.0.0.1:$port"
}

# find_bin NAME...: print the first of the named programs found in PATH or the sbin
# directories (not in a normal user's PATH on Debian).
find_bin() {
  local name dir
  for name in "$@"; do
    if command -v "$name" 2>/dev/null; then return 0; fi
    for dir in /usr/sbin /usr/local/sbin /sbin; do
      if [ -x "$dir/$name" ]; then
        echo "$dir/$name"
        return 0
      fi
    done
  done
  return 1
}

apt_updated=false
apt_install() {
  command -v apt-get >/dev/null ||
    die "$* not installed and this is not a Debian-like machine: install it, or start it yourself"
  log "installing $* with apt-get"
  if ! $apt_updated; then
    "${as_root[@]}" apt-get update -qq
    apt_updated=true
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

start_mariadb() {
  local mysqld
  mysqld=$(find_bin mariadbd mysqld) || {
    apt_install mariadb-server
    mysqld=$(find_bin mariadbd mysqld) || die "mariadb-server installed but no mariadbd found"
  }
  # The package's postinst may already have started it.
  port_open "$MYSQL_PORT" && return 0
  log "starting $mysqld"
  # /run is a tmpfs: the socket directory is gone after a reboot or in a fresh container.
  "${as_root[@]}" install -d -m 0755 -o mysql -g mysql /run/mysqld
  "${as_root[@]}" start-stop-daemon --start --oknodo --background --exec "$mysqld" -- --user=mysql
}

start_redis() {
  local redis
  redis=$(find_bin redis-server) || {
    apt_install redis-server
    redis=$(find_bin redis-server) || die "redis-server installed but not found"
  }
  port_open "$REDIS_PORT" && return 0
  log "starting $redis"
  "${as_root[@]}" install -d /var/lib/redis /var/log/redis
  # A cache only: no snapshots, no AOF.
  "${as_root[@]}" "$redis" --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_rabbitmq() {
  local rabbit
  rabbit=$(find_bin rabbitmq-server) || {
    apt_install rabbitmq-server
    rabbit=$(find_bin rabbitmq-server) || die "rabbitmq-server installed but not found"
  }
  port_open "$RABBIT_PORT" && return 0
  log "starting $rabbit (takes a few seconds)"
  "${as_root[@]}" "$rabbit" -detached
}

# ensure NAME PORT START_FUNCTION HINT
ensure() {
  local name=$1 port=$2 start=$3 hint=$4
  if port_open "$port"; then
    log "$name is already reachable on 127.0.0.1:$port"
    return 0
  fi
  "$start"
  wait_port "$name" "$port" "$hint"
}

ensure MariaDB "$MYSQL_PORT" start_mariadb \
  "see /var/log/mysql/error.log or 'journalctl -u mariadb'; is bind-address/skip-networking set, or another mysqld running?"
ensure Redis "$REDIS_PORT" start_redis "see /var/log/redis/ci.log"
ensure RabbitMQ "$RABBIT_PORT" start_rabbitmq \
  "see /var/log/rabbitmq/ and 'rabbitmq-diagnostics status'"

# ---- databases and users ------------------------------------------------------------------------
command -v mysql >/dev/null || apt_install mariadb-client

# How to reach the server as an administrator: an explicit account over TCP, else root over the
# socket (unix_socket authentication on Debian's MariaDB: works for the OS root user).
mysql_root=()
if [ -n "${MYSQL_ROOT_PASSWORD:-}" ]; then
  mysql_root=(env "MYSQL_PWD=$MYSQL_ROOT_PASSWORD" mysql --protocol=TCP -h 127.0.0.1
    -P "$MYSQL_PORT" -u "${MYSQL_ROOT_USER:-root}")
else
  mysql_root=(mysql -u "${MYSQL_ROOT_USER:-root}")
  if ! "${mysql_root[@]}" -e 'SELECT 1' >/dev/null 2>&1 && [ ${#as_root[@]} -gt 0 ]; then
    mysql_root=("${as_root[@]}" "${mysql_root[@]}")
  fi
fi

# The port can open a moment before the server accepts logins: retry briefly.
deadline=$((SECONDS + wait_seconds))
until err=$("${mysql_root[@]}" -e 'SELECT 1' 2>&1 >/dev/null); do
  case $err in *"Access denied"*) deadline=0 ;; esac # retrying will not help
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "cannot log in to MariaDB as ${MYSQL_ROOT_USER:-root} ($err); run as root, or set MYSQL_ROOT_USER and MYSQL_ROOT_PASSWORD"
  fi
  sleep 1
done

"${mysql_root[@]}" <"$init_sql" || die "applying $init_sql failed"

# Prove the result the way the services will use it: each user, over TCP, on its own database.
for cred in product:productdb order:orderdb; do
  user=${cred%%:*} db=${cred#*:}
  MYSQL_PWD=$user mysql --protocol=TCP -h 127.0.0.1 -P "$MYSQL_PORT" -u "$user" "$db" \
    -e 'SELECT 1' >/dev/null ||
    die "user '$user' cannot use database '$db' over 127.0.0.1:$MYSQL_PORT after init.sql"
done
log "databases productdb, orderdb and users product, order are ready"

# ---- broker users -------------------------------------------------------------------------------
# One user per service, limited to its own queues and, by topic permissions, to the routing keys it
# publishes and consumes (see infra/README.md). import_definitions creates or updates them, so this
# is idempotent; it also declares the shared exchanges, which the services' users may not configure.
rabbitmqctl=$(find_bin rabbitmqctl) || die "rabbitmqctl not found; is rabbitmq-server installed?"
# Debian's rabbitmqctl runs as the rabbitmq user, which may not be able to read this checkout.
defs_dir=$(mktemp -d)
trap 'rm -rf "$defs_dir"' EXIT
chmod 0755 "$defs_dir"
install -m 0644 "$rabbit_definitions" "$defs_dir/definitions.json"
deadline=$((SECONDS + wait_seconds))
until err=$("${as_root[@]}" "$rabbitmqctl" import_definitions "$defs_dir/definitions.json" 2>&1); do
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "importing $rabbit_definitions failed: $err"
  fi
  sleep 2 # the node accepts AMQP a moment before the CLI can talk to it
done
# The import is asynchronous: wait until each user can log in with its password.
for user in product-service order-service; do
  until "${as_root[@]}" "$rabbitmqctl" -q authenticate_user "$user" "$user" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "broker user '$user' cannot log in after importing $rabbit_definitions"
    fi
    sleep 1
  done
done
log "broker users product-service, order-service are ready"
