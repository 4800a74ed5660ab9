#!/usr/bin/env bash
# Relaxes the local MariaDB/MySQL's redo-log flushing for load tests, as the original system's
# compose file did: innodb_flush_log_at_trx_commit=2 writes the log at every commit but fsyncs it
# once a second, so an OS crash (not a server crash) can lose the last second of commits. Every
# commit still goes through the same transactions, outbox and dedupe tables; only the fsync per
# commit is amortised. Production keeps 1. `tune-for-load.sh --restore` sets it back to 1.
set -euo pipefail
value=2
[ "${1:-}" = "--restore" ] && value=1
mysql_cmd=(mysql -u"${MYSQL_ROOT_USER:-root}")
[ -n "${MYSQL_ROOT_PASSWORD:-}" ] && mysql_cmd+=(-p"$MYSQL_ROOT_PASSWORD")
"${mysql_cmd[@]}" -e "SET GLOBAL innodb_flush_log_at_trx_commit = $value"
echo "infra: innodb_flush_log_at_trx_commit = $value"
