#!/usr/bin/env bash
# A PostgreSQL source: Lifeboat's backup of a ~200 MB bot-like database
# (users, messages with hex tokens and text, compressing about 2:1) against
# the plain script `pg_dump -Fc` + `zip`, in the same run, on a throw-away
# server on loopback.
# Usage: bench/postgres.sh [MESSAGES=1000000]   (1 M messages is ~200 MB on disk)
# Env: BENCH_DIR (work folder). Needs the PostgreSQL server and client
# (initdb, pg_ctl, psql, pg_dump), zip and /usr/bin/time.
# Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
messages=${1:-1000000}
work=$(work_dir)
cargo build --quiet --release -p lifeboat
start_postgres "$work/pg"
trap 'stop_postgres "$work/pg"' EXIT
url="postgresql://postgres@127.0.0.1:$pg_port/bench"
bot_postgres "$url" "$messages"
size=$(psql -X -At "$url" -c "SELECT pg_database_size('bench')")
timed() { /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }; }

# The plain script.
rm -rf "$work/script"; mkdir -p "$work/script"
timed bash -c "pg_dump --format=custom --file '$work/script/bench.pgdump' --dbname '$url' && cd '$work/script' && zip -q bench.zip bench.pgdump"
read -r script_wall script_rss < "$work/time.txt"
script_size=$(stat -c %s "$work/script/bench.zip")

# Lifeboat: dump, pg_restore check with row counts, archive, verify.
out="$work/pg-out"; rm -rf "$out"
cat > "$work/pg.toml" <<TOML
[backup]
source_dir = "$work/pg-none"
output_dir = "$out"
databases = []
[[sources.postgres]]
name = "bench"
url = "$url"
TOML
timed "$rel/lifeboat" --config "$work/pg.toml" backup
read -r lb_wall lb_rss < "$work/time.txt"
archive=$(head -n1 "$work/out.txt")
lb_size=$(stat -c %s "$archive")

echo "database:  $((size / 1000000)) MB ($messages messages)"
echo "script:    pg_dump -Fc + zip   $script_wall s, peak RSS $((script_rss / 1024)) MB, $script_size B"
echo "lifeboat:  backup              $lb_wall s, peak RSS $((lb_rss / 1024)) MB, $lb_size B"
echo "ratio:     $(awk "BEGIN { printf \"%.2f\", $lb_wall / $script_wall }")x the script's time (target <= 1)"
