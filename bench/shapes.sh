#!/usr/bin/env bash
# Archive size on data shaped unlike the demo set: a sessions table of random
# hex tokens and small JSON documents (what compresses worst), against
# `sqlite3 .backup` + `zip -6` (and -9) of the same database, in the same run.
# Usage: bench/shapes.sh [ROWS=150000]
# Env: LIFEBOAT_BIN (default: a release build, made here). Sizes do not
# depend on the build profile. Needs sqlite3 and zip. See docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
rows=${1:-150000}
if [ -z "${LIFEBOAT_BIN:-}" ]; then
    cargo build --quiet --release -p lifeboat
    LIFEBOAT_BIN="$rel/lifeboat"
fi
work=$(mktemp -d /tmp/lifeboat-shapes.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sqlite_data"
sqlite3 "$work/sqlite_data/sessions.db" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER, token TEXT, props TEXT, created TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO sessions (user_id, token, props, created)
SELECT abs(random()) % 50000,
       lower(hex(randomblob(16))),
       json_object('lang', substr('enrudees', 1 + 2 * (abs(random()) % 4), 2),
                   'plan', CASE abs(random()) % 2 WHEN 0 THEN 'free' ELSE 'pro' END,
                   'clicks', abs(random()) % 1000,
                   'ref', lower(hex(randomblob(4)))),
       strftime('%Y-%m-%dT%H:00:00Z', '2026-11-01', '+' || (abs(random()) % 672) || ' hours')
FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
printf '[backup]\nsource_dir = "%s"\noutput_dir = "%s"\ndatabases = ["sessions.db"]\n' \
    "$work/sqlite_data" "$work/backups" > "$work/lifeboat.toml"
"$LIFEBOAT_BIN" --config "$work/lifeboat.toml" backup > /dev/null
sqlite3 "$work/sqlite_data/sessions.db" ".backup '$work/sessions.db'"
(cd "$work" && zip -q -6 z6.zip sessions.db && zip -q -9 z9.zip sessions.db)
db=$(stat -c %s "$work/sessions.db")
lb=$(stat -c %s "$work"/backups/database_backup_*.zip)
z6=$(stat -c %s "$work/z6.zip")
z9=$(stat -c %s "$work/z9.zip")
echo "| rows | database | lifeboat (level 6, with manifest and info) | zip -6 | zip -9 | lifeboat vs zip -6 |"
echo "|---|---|---|---|---|---|"
awk -v r="$rows" -v d="$db" -v l="$lb" -v a="$z6" -v b="$z9" 'BEGIN {
    printf "| %d | %d B | %d B | %d B | %d B | %+.2f%% |\n", r, d, l, a, b, (l - a) * 100 / a }'
