#!/usr/bin/env bash
# The time to write a differential: Lifeboat's page deltas against storing
# every changed page whole (what differentials held before page deltas), in
# the same process on the same snapshots, alternating (A B, B A, ...) so that
# other work on the machine weighs on both alike. For each shape: a full
# archive of a copy of the generated set, the shape's writes (see
# apply_shape in common.sh), a snapshot of each database, then `bench
# diff-write` (crates/engine/examples/bench.rs) ROUNDS times each way
# (compare_writers in common.sh), then one real backup (the differential,
# `bench backup`: no `lifeboat` build needed) for its end-to-end time.
# Usage: bench/diff-write.sh [TOTAL_MB=100] [ROUNDS=5] [SHAPES="hour random-key spread-updates vacuum"]
# Env: BENCH_DIR (work folder; shares the generated set with bench/run.sh).
# Needs sqlite3 and /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
total_mb=${1:-100}
rounds=${2:-5}
shapes=${3:-hour random-key spread-updates vacuum}
work=$(work_dir)
cargo build --quiet --release -p lifeboat-engine --example bench
generate_data "$work/sqlite_data" "$total_mb"
echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"

for shape in $shapes; do
    data="$work/dw-data" out="$work/dw-out"
    rm -rf "$data" "$out"
    cp -a "$work/sqlite_data" "$data"
    differential_config "$work/dw.toml" "$data" "$out"
    full=$("$rel/examples/bench" backup "$work/dw.toml" | head -n1)
    apply_shape "$shape" "$data"
    sync
    echo "== $shape (full archive $(stat -c %s "$full") B)"
    compare_writers "$full" "$data" "$rounds"
    /usr/bin/time -f '%e s wall, %U s user, %S s sys' -o "$work/time.txt" "$rel/examples/bench" backup "$work/dw.toml" > "$work/out.txt"
    diff=$(head -n1 "$work/out.txt")
    case "$diff" in *.diff.zip) ;; *) echo "expected a differential, got $diff" >&2; exit 1 ;; esac
    echo "the whole differential backup (snapshots, checks, deltas, archive, read-back): $(cat "$work/time.txt"), $(stat -c %s "$diff") B"
done
rm -rf "$work/dw-data" "$work/dw-out"
