#!/usr/bin/env bash
# Delivery benchmark: one full cycle (lifeboat-scheduler --once:
# backup -> verify -> deliver -> retention) of the ~TOTAL_MB set to 5 admins on
# the fake Telegram server over loopback, once with max_upload_mb = 50 (the
# official server: parts) and once with 2000 (a local Bot API server: one
# file). Each run checks that every file was uploaded once and sent to the
# other 4 admins by file_id. Prints a markdown table.
# Usage: bench/deliver.sh [TOTAL_MB=300] [ROUNDS=1]
# Env: BENCH_DIR (work folder, default bench-work/ in the repo, gitignored;
# the generated databases are cached there and shared with bench/run.sh when
# it is given the same BENCH_DIR). Needs /usr/bin/time (Debian package `time`).
# See docs/benchmarks.md, "Delivery".
set -euo pipefail
. "$(dirname "$0")/common.sh"
total_mb=${1:-300}
rounds=${2:-1}
work=${BENCH_DIR:-$root/bench-work}
mkdir -p "$work"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time: apt-get install time" >&2; exit 1; }

cargo build --quiet --release -p lifeboat-engine --example bench
cargo build --quiet --release -p lifeboat-scheduler
cargo build --quiet --release -p lifeboat-telegram --example bench_delivery

src="$work/sqlite_data"
generate_data "$src" "$total_mb"

rows=()
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$rounds"); do
    for mb in 50 2000; do
        echo "round $r, max_upload_mb = $mb" >&2
        rows+=("$("$rel/examples/bench_delivery" "$rel/lifeboat-scheduler" "$src" "$work/delivery-$mb" "$mb" 5)")
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo
echo "| max_upload_mb | admins | archive | files | uploads | file_id sends | backup+verify s | delivery s | cycle start → last confirmation s | process exit s | peak RSS | CPU s | load1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$rounds" -gt 1 ]; then
    echo
    printf '%s\n' "${rows[@]}" | awk -F'|' '
        function med(s,   a, n, i, j, x) { n = split(s, a, " ");
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        { k = $2 + 0; gsub(/[* ]/, "", $10); b[k] = b[k] " " $8; d[k] = d[k] " " $9; t[k] = t[k] " " $10 }
        END { for (k in b) printf "median, max_upload_mb = %s: backup+verify %.2f s, delivery %.2f s, to last confirmation %.2f s\n", k, med(b[k]), med(d[k]), med(t[k]) }'
fi
