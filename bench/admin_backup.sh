#!/usr/bin/env bash
# The plain admin script Lifeboat replaces, done right: an online copy of each
# database with the sqlite3 shell's .backup, integrity_check on the copy, then
# one `zip -6` of the copies. Usage: admin_backup.sh SRC_DIR OUT_ZIP
set -euo pipefail
src=$1
out=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/admin-backup.XXXXXX")
trap 'rm -rf "$work"' EXIT
for db in user_requests.db analytics.db premium_system.db historical_prices.db bypass_stats.db; do
    sqlite3 "$src/$db" ".timeout 5000" ".backup '$work/$db'"
    result=$(sqlite3 "$work/$db" "PRAGMA integrity_check")
    if [ "$result" != "ok" ]; then
        echo "integrity_check failed for $db: $result" >&2
        exit 1
    fi
done
rm -f "$out"
(cd "$work" && zip -q -6 "$out" ./*.db)
