#!/usr/bin/env bash
# Differential archives on the bot-like set: a full archive, an hour of a
# bot's typical writes, then the differential; restore times of the full
# archive alone and of full + differential; an unchanged cycle.
# Usage: [SHAPE=hour|random-key|spread-updates|vacuum] bench/diff.sh [TOTAL_MB=300]
# Env: BENCH_DIR (work folder; shares the generated set with bench/run.sh);
# WRITE_ROUNDS (default 5, 0: none): before the differential, its write time
# with page deltas against every changed page whole, alternating, this many
# times each (compare_writers in common.sh; bench/diff-write.sh does only
# that, for every shape).
# Needs sqlite3 and /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
total_mb=${1:-300}
work=$(work_dir)
cargo build --quiet --release -p lifeboat-engine --example bench
cargo build --quiet --release -p lifeboat -p lifeboat-scheduler
generate_data "$work/sqlite_data" "$total_mb"

# The writes change the data: work on a copy.
data="$work/diff-data"
out="$work/diff-out"
rm -rf "$data" "$out" "$work"/diff-restored-*
cp -a "$work/sqlite_data" "$data"
differential_config "$work/diff.toml" "$data" "$out"
lb=("$rel/lifeboat" --config "$work/diff.toml")
timed() { /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }; }

timed "${lb[@]}" backup
full=$(head -n1 "$work/out.txt"); read -r full_wall full_rss < "$work/time.txt"

apply_shape "${SHAPE:-hour}" "$data"
sync
if [ "${WRITE_ROUNDS:-5}" -gt 0 ]; then compare_writers "$full" "$data" "${WRITE_ROUNDS:-5}"; fi

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
