# Shared by the benchmark scripts: each sources it right after
# `set -euo pipefail`. It sets `root` (the repository, also the working
# directory) and `rel`, and defines the helpers below.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Where cargo puts release builds (CARGO_TARGET_DIR when set).
rel="${CARGO_TARGET_DIR:-$root/target}/release"

# work_dir: the work folder, BENCH_DIR (made when missing) or a new one in /tmp.
work_dir() {
    local dir=${BENCH_DIR:-$(mktemp -d /tmp/lifeboat-bench.XXXXXX)}
    mkdir -p "$dir"
    echo "$dir"
}

# generate_data DIR TOTAL_MB: the ~TOTAL_MB set of bot databases made by
# crates/core/examples/bench.rs, generated once per size and kept in DIR.
generate_data() {
    local dir=$1 total_mb=$2
    if [ ! -f "$dir/.generated-$total_mb" ]; then
        rm -rf "$dir"
        "$rel/examples/bench" gen "$dir" "$total_mb"
        touch "$dir/.generated-$total_mb"
    fi
}
