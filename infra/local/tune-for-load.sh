#!/usr/bin/env bash
# Runs a command (a load run: `make load` calls it) with the local MariaDB/MySQL's redo-log
# flushing relaxed, as the original system's compose file did, and sets it back afterwards.
# innodb_flush_log_at_trx_commit=2 writes the log at every commit but fsyncs it once a second,
# so an OS crash (not a server crash) can lose the last second of commits. Every commit still
# goes through the same transactions, outbox and dedupe tables; only the fsync per commit is
# amortised. Production keeps 1.
#
# The setting is SERVER-WIDE: it applies to every database on that server. So the script says
# what it changes, and restores the value it found when the command ends — normally, on
# failure, on Ctrl-C or TERM. `make load TUNE=` runs without touching the server at all.
#
# Usage: tune-for-load.sh COMMAND [ARGS...]     (exits with the command's status)
# Env:   MYSQL_ROOT_USER (root), MYSQL_ROOT_PASSWORD (none), MYSQL_HOST and MYSQL_PORT (the
#        client's default: the local socket), LOAD_FLUSH_LOG_AT_TRX_COMMIT (2: the value to run with).
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
want=${LOAD_FLUSH_LOG_AT_TRX_COMMIT:-2}
mysql_cmd=(mysql -N -B -u"${MYSQL_ROOT_USER:-root}")
[ -n "${MYSQL_HOST:-}" ] && mysql_cmd+=(-h"$MYSQL_HOST")
[ -n "${MYSQL_PORT:-}" ] && mysql_cmd+=(-P"$MYSQL_PORT")
[ -n "${MYSQL_ROOT_PASSWORD:-}" ] && export MYSQL_PWD="$MYSQL_ROOT_PASSWORD" # not on the command line
setting=innodb_flush_log_at_trx_commit

before=$("${mysql_cmd[@]}" -e "SELECT @@GLOBAL.$setting")
if [ "$before" = "$want" ]; then
  echo "infra: $setting is already $want on this MariaDB (server-wide); this run leaves it as it is"
  exec "$@"
fi

restore() {
  local status=$?
  trap - EXIT INT TERM
  if "${mysql_cmd[@]}" -e "SET GLOBAL $setting = $before"; then
    echo "infra: $setting restored to $before"
  else
    echo "infra: could NOT restore $setting to $before; as root run: SET GLOBAL $setting = $before" >&2
    [ "$status" -ne 0 ] || status=1
  fi
  exit "$status"
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"${mysql_cmd[@]}" -e "SET GLOBAL $setting = $want"
echo "infra: $setting $before → $want for this run — SERVER-WIDE (every database on this MariaDB);" \
  "restored to $before when the run ends, also on Ctrl-C. TUNE= leaves the server alone."
"$@"
