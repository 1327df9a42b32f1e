#!/usr/bin/env bash
# Differential archives on the bot-like set: a full archive, an hour of a
# bot's typical writes, then the differential; restore times of the full
# archive alone and of full + differential; an unchanged cycle.
# Usage: [SHAPE=hour|random-key|spread-updates|vacuum] bench/diff.sh [TOTAL_MB=300]
# Env: BENCH_DIR (work folder; shares the generated set with bench/run.sh).
# Needs sqlite3 and /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
total_mb=${1:-300}
work=$(work_dir)
cargo build --quiet --release -p lifeboat-core --example bench
cargo build --quiet --release -p lifeboat -p lifeboat-scheduler
generate_data "$work/sqlite_data" "$total_mb"

# The writes change the data: work on a copy.
data="$work/diff-data"
out="$work/diff-out"
rm -rf "$data" "$out" "$work"/diff-restored-*
cp -a "$work/sqlite_data" "$data"
cat > "$work/diff.toml" <<TOML
[backup]
source_dir = "$data"
output_dir = "$out"
[schedule]
# Full archives on 1 January only: every backup after the first is a differential.
full_cron = "0 0 1 1 *"
TOML
lb=("$rel/lifeboat" --config "$work/diff.toml")
timed() { /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }; }

timed "${lb[@]}" backup
full=$(head -n1 "$work/out.txt"); read -r full_wall full_rss < "$work/time.txt"

# The writes between the full archive and the differential, by SHAPE:
case "${SHAPE:-hour}" in
hour)
    # An hour of a bot: new rows equal to 1 % of the events in the request,
    # analytics and price databases; updates to 0.1 % of the rows elsewhere.
    for db in user_requests analytics historical_prices; do
        sqlite3 "$data/$db.db" "INSERT INTO events (user_id, at, kind, amount, token, payload)
            SELECT user_id, at, kind, amount, hex(randomblob(12)), payload FROM events
            ORDER BY random() LIMIT (SELECT count(*) / 100 FROM events);"
    done
    for db in premium_system bypass_stats; do
        sqlite3 "$data/$db.db" "UPDATE events SET amount = amount + 1 WHERE id IN
            (SELECT id FROM events ORDER BY random() LIMIT (SELECT count(*) / 1000 FROM events));"
    done ;;
random-key)
    # 1 % new rows in every database, each under a random existing user id, so they
    # land all over the (user_id, at) index.
    for f in "$data"/*.db; do
        sqlite3 "$f" "INSERT INTO events (user_id, at, kind, amount, token, payload)
            SELECT abs(random()) % (SELECT max(user_id) + 1 FROM events), at, kind, amount, hex(randomblob(12)), payload FROM events
            ORDER BY random() LIMIT (SELECT count(*) / 100 FROM events);"
    done ;;
spread-updates)
    # 1 % of the rows of the largest database updated, spread over the table.
    big=$(ls -S "$data"/*.db | head -n1)
    sqlite3 "$big" "UPDATE events SET amount = amount + 1 WHERE id % 100 = 0;" ;;
vacuum)
    # Everything moves: the differential should store it whole.
    big=$(ls -S "$data"/*.db | head -n1)
    sqlite3 "$big" "DELETE FROM events WHERE id % 10 = 0; VACUUM;" ;;
*) echo "SHAPE is one of hour, random-key, spread-updates, vacuum" >&2; exit 2 ;;
esac
sync

timed "${lb[@]}" backup
diff=$(head -n1 "$work/out.txt"); read -r diff_wall diff_rss < "$work/time.txt"
case "$diff" in *.diff.zip) ;; *) echo "expected a differential, got $diff" >&2; exit 1 ;; esac

timed "${lb[@]}" restore "$(basename "$full")" --to "$work/diff-restored-full" --yes
read -r rfull_wall rfull_rss < "$work/time.txt"
timed "${lb[@]}" restore latest --to "$work/diff-restored-latest" --yes
read -r rdiff_wall rdiff_rss < "$work/time.txt"

# An unchanged cycle (the scheduler's, which skips): nothing written or sent.
ls "$out" > "$work/before.txt"
timed "$rel/lifeboat-scheduler" --config "$work/diff.toml" --once
read -r same_wall same_rss < "$work/time.txt"
new_bytes=0
for f in $(ls "$out" | grep -vxF -f "$work/before.txt" || true); do new_bytes=$((new_bytes + $(stat -c %s "$out/$f"))); done

full_size=$(stat -c %s "$full"); diff_size=$(stat -c %s "$diff")
echo "full archive:         $full_size B in $full_wall s (peak RSS $((full_rss / 1024)) MB)"
echo "differential:         $diff_size B in $diff_wall s (peak RSS $((diff_rss / 1024)) MB), $(awk "BEGIN { printf \"%.2f\", $diff_size * 100 / $full_size }") % of the full (target < 10 %)"
echo "restore full:         $rfull_wall s (peak RSS $((rfull_rss / 1024)) MB)"
echo "restore full + diff:  $rdiff_wall s (peak RSS $((rdiff_rss / 1024)) MB), $(awk "BEGIN { printf \"%.2f\", $rdiff_wall / $rfull_wall }")x (target < 1.5x)"
echo "unchanged cycle:      $same_wall s, $new_bytes B of new archives to send (target 0)"
