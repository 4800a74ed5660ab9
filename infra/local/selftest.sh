#!/usr/bin/env bash
# Exercises up.sh's "installed but stopped" path for real without touching the machine's running
# servers: in private PID, mount and network namespaces (own loopback, own /run, empty data and log
# directories bind-mounted over the real ones) it runs up.sh twice — the first run must start
# MariaDB, Redis and RabbitMQ and create the databases, the second must find everything up — then
# stops what it started. Needs root, unshare(1) and the three servers installed. Takes ~20 s.
#
#   sudo infra/local/selftest.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" -eq 0 ] || {
    echo "selftest: needs root (namespaces, bind mounts)" >&2
    exit 1
  }
  exec unshare --pid --mount-proc --mount --net --fork "$0" --inside
fi

# ---- inside the namespaces: PID 1 here; everything started below dies with us ------------------
state=$(mktemp -d /tmp/infra-selftest.XXXXXX)
stop_all() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if [ "$p" -ne $$ ]; then kill "$p" 2>/dev/null || true; fi
  done
  sleep 2
  rm -rf "$state"
}
trap stop_all EXIT

ip link set lo up
mount --make-rprivate /
mount -t tmpfs tmpfs /run
chmod 0755 "$state" # mktemp makes it 0700; mysql and rabbitmq must traverse it
mkdir -p "$state"/{mysql,mysqllog,redislib,redislog,rabbitlib,rabbitlog}
chown mysql:mysql "$state/mysql" "$state/mysqllog"
chown rabbitmq:rabbitmq "$state/rabbitlib" "$state/rabbitlog"
mariadb-install-db --user=mysql --datadir="$state/mysql" >"$state/install-db.log" 2>&1 || {
  cat "$state/install-db.log" >&2
  exit 1
}
mount --bind "$state/mysql" /var/lib/mysql
[ ! -d /var/log/mysql ] || mount --bind "$state/mysqllog" /var/log/mysql
mount --bind "$state/redislib" /var/lib/redis
mount --bind "$state/redislog" /var/log/redis
mount --bind "$state/rabbitlib" /var/lib/rabbitmq
mount --bind "$state/rabbitlog" /var/log/rabbitmq

for port in 3306 6379 5672; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "selftest: port $port is already open inside the namespace" >&2
    exit 1
  fi
done

echo "selftest: run 1 (servers stopped)"
"$here/up.sh"
echo "selftest: run 2 (servers up)"
"$here/up.sh"
redis-cli -h 127.0.0.1 ping >/dev/null
mysql -uroot -N -e "SHOW DATABASES LIKE '%db'" | sort | tr '\n' ' '
echo
echo "selftest: ok"
