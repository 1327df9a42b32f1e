# Shared by the benchmark scripts; source it after setting `root`.

# Where cargo puts release builds (CARGO_TARGET_DIR when set).
rel="${CARGO_TARGET_DIR:-$root/target}/release"

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
