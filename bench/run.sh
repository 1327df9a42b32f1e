#!/usr/bin/env bash
# Lifeboat vs the plain admin script, in the same run, on the same databases.
# Usage: bench/run.sh [TOTAL_MB=300] [ROUNDS=3]
# Env: BENCH_DIR (work folder, default a new /tmp dir), LIFEBOAT_BIN (default
# target/release/lifeboat, built here). Needs sqlite3, zip, unzip, age-keygen,
# /usr/bin/time. Each round also runs Lifeboat sealing with zip-aes and age.
# See docs/benchmarks.md for the method and the figures.
set -euo pipefail
. "$(dirname "$0")/common.sh"
total_mb=${1:-300}
rounds=${2:-3}
work=$(work_dir)

cargo build --quiet --release -p lifeboat-engine --example bench
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
# The same run, sealed: zip-aes with a password file, age to one recipient.
head -c 24 /dev/urandom | base64 > "$work/archive.pass"
rm -f "$work/age-key.txt"
age-keygen -o "$work/age-key.txt" 2> /dev/null
recipient=$(sed -n 's/^# public key: //p' "$work/age-key.txt")
{ cat "$work/lifeboat.toml"; printf '[encryption]\nmode = "zip-aes"\npassword_file = "%s"\n' "$work/archive.pass"; } \
    > "$work/lifeboat-zip-aes.toml"
{ cat "$work/lifeboat.toml"; printf '[encryption]\nmode = "age"\nrecipients = ["%s"]\n' "$recipient"; } \
    > "$work/lifeboat-age.toml"

# Both sides run with the databases in the page cache (the bot keeps them
# hot). BENCH_COLD=1 drops the cache before each run instead (needs root).
drop_caches() {
    sync
    if [ "${BENCH_COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

results="$work/results.tsv"
printf 'round\ttool\twall_s\tmax_rss_kb\tarchive_bytes\tcpu_s\tload1\n' > "$results"

# run_lifeboat ROUND [MODE]: MODE is zip-aes or age for a sealed run.
run_lifeboat() {
    local tool=lifeboat config="$work/lifeboat.toml"
    if [ -n "${2:-}" ]; then tool="lifeboat-$2"; config="$work/lifeboat-$2.toml"; fi
    rm -rf "$out"
    drop_caches
    /usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$LIFEBOAT_BIN" --config "$config" backup \
        > "$work/lifeboat.out" 2> "$work/lifeboat.err" || { cat "$work/lifeboat.err" >&2; exit 1; }
    local zip; zip=$(head -n1 "$work/lifeboat.out")
    read -r wall rss usr sys < <(tail -n1 "$work/time.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$tool" "$wall" "$rss" "$(stat -c %s "$zip")" \
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
    run_lifeboat "$r" zip-aes
    run_lifeboat "$r" age
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
        for (i = 1; i <= 2; i++) { t = (i == 1) ? "lifeboat-zip-aes" : "lifeboat-age"
            printf "%s: median wall %.2f s, %.2fx the plain run (target <= 1.10), CPU %.2f s, peak RSS %.1f MB, archive %d B\n",
                t, med[t], med[t] / med["lifeboat"], c[t] / n[t], m[t] / 1024, s[t] }
    }' "$results"
