#!/usr/bin/env bash
# Lifeboat vs the plain admin script, in the same run, on the same databases.
# Usage: bench/run.sh [TOTAL_MB=300] [ROUNDS=3]
# Env: BENCH_DIR (work folder, default a new /tmp dir), LIFEBOAT_BIN (default
# target/release/lifeboat, built here). Needs sqlite3, zip, unzip, /usr/bin/time.
# See docs/benchmarks.md for the method and the figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
total_mb=${1:-300}
rounds=${2:-3}
work=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench.XXXXXX)}
mkdir -p "$work"
cd "$root"

cargo build --quiet --release -p lifeboat-core --example bench
. "$root/bench/common.sh"
if [ -z "${LIFEBOAT_BIN:-}" ]; then
    cargo build --quiet --release -p lifeboat
    LIFEBOAT_BIN="$rel/lifeboat"
fi

src="$work/sqlite_data"
out="$work/backups"
generate_data "$src" "$total_mb"
cat > "$work/lifeboat.toml" <<TOML
[backup]
source_dir = "$src"
output_dir = "$out"
compression_level = 6
[telegram]
max_upload_mb = 2000
TOML

# Both sides run with the databases in the page cache (the bot keeps them
# hot). BENCH_COLD=1 drops the cache before each run instead (needs root).
drop_caches() {
    sync
    if [ "${BENCH_COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

results="$work/results.tsv"
printf 'round\ttool\twall_s\tmax_rss_kb\tarchive_bytes\tcpu_s\tload1\n' > "$results"

run_lifeboat() {
    rm -rf "$out"
    drop_caches
    /usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$LIFEBOAT_BIN" --config "$work/lifeboat.toml" backup \
        > "$work/lifeboat.out" 2> "$work/lifeboat.err" || { cat "$work/lifeboat.err" >&2; exit 1; }
    local zip; zip=$(head -n1 "$work/lifeboat.out")
    read -r wall rss usr sys < <(tail -n1 "$work/time.txt")
    printf '%s\tlifeboat\t%s\t%s\t%s\t%s\t%s\n' "$1" "$wall" "$rss" "$(stat -c %s "$zip")" \
        "$(awk "BEGIN { print $usr + $sys }")" "$(cut -d' ' -f1 /proc/loadavg)" >> "$results"
}

run_script() {
    rm -f "$work/admin.zip"
    drop_caches
    if /usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$root/bench/admin_backup.sh" "$src" "$work/admin.zip" \
        2> "$work/script.err"; then
        read -r wall rss usr sys < "$work/time.txt"
        printf '%s\tscript\t%s\t%s\t%s\t%s\t%s\n' "$1" "$wall" "$rss" "$(stat -c %s "$work/admin.zip")" \
            "$(awk "BEGIN { print $usr + $sys }")" "$(cut -d' ' -f1 /proc/loadavg)" >> "$results"
    else
        # Under a writer the sqlite3 shell's paged .backup can give up with
        # "database is locked": recorded, not hidden.
        echo "script FAILED (round $1): $(head -n1 "$work/script.err")"
        printf '%s\tscript-failed\t%s\t-\t-\n' "$1" "$(tail -n1 "$work/time.txt" | cut -d' ' -f1)" >> "$results"
    fi
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
    # Alternate the order so neither side always runs first.
    if [ $((r % 2)) -eq 1 ]; then run_script "$r"; run_lifeboat "$r"; else run_lifeboat "$r"; run_script "$r"; fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The bot's writers (a commit every 2 ms on premium_system.db, WAL, and on
# analytics.db, rollback journal) while each tool runs, and alone as the baseline.
writer_phase() {
    rm -f "$work/stop"
    "$rel/examples/bench" writer "$src/premium_system.db" "$work/stop" 2 > "$work/writer-wal.txt" &
    local p1=$!
    "$rel/examples/bench" writer "$src/analytics.db" "$work/stop" 2 > "$work/writer-delete.txt" &
    local p2=$!
    sleep 1
    "$@"
    touch "$work/stop"
    wait "$p1" "$p2"
    echo "WAL: $(cat "$work/writer-wal.txt") | DELETE: $(cat "$work/writer-delete.txt")"
}
echo "writer alone (3 s):    $(writer_phase sleep 3)"
echo "writer during lifeboat: $(writer_phase run_lifeboat w)"
echo "writer during script:   $(writer_phase run_script w)"

echo
column -t "$results"
awk -F'\t' 'NR > 1 && $1 != "w" { n[$2]++; w[$2, n[$2]] = $3; c[$2] += $6; if ($4 > m[$2]) m[$2] = $4; s[$2] = $5 }
    END {
        for (t in n) { k = n[t]; for (i = 1; i <= k; i++) v[i] = w[t, i];
            for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
            med[t] = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
        printf "median wall: lifeboat %.2f s, script %.2f s, ratio %.2f (target <= 0.50)\n", med["lifeboat"], med["script"], med["lifeboat"] / med["script"]
        printf "mean CPU (user+sys): lifeboat %.2f s, script %.2f s\n", c["lifeboat"] / n["lifeboat"], c["script"] / n["script"]
        printf "peak RSS: lifeboat %.1f MB (target <= 64), script %.1f MB\n", m["lifeboat"] / 1024, m["script"] / 1024
        printf "archive: lifeboat %d B, zip -6 %d B, %+.2f%% (target <= +2%%)\n", s["lifeboat"], s["script"], (s["lifeboat"] / s["script"] - 1) * 100
    }' "$results"
