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
# crates/engine/examples/bench.rs, generated once per size and kept in DIR.
generate_data() {
    local dir=$1 total_mb=$2
    if [ ! -f "$dir/.generated-$total_mb" ]; then
        rm -rf "$dir"
        "$rel/examples/bench" gen "$dir" "$total_mb"
        touch "$dir/.generated-$total_mb"
    fi
}

# free_port: a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_postgres DIR: a throw-away PostgreSQL server in DIR (made afresh)
# on a free loopback port, its superuser `postgres` trusted; as nobody when
# run as root. Sets pg_port. Stop it with stop_postgres DIR (for the EXIT trap).
start_postgres() {
    local dir=$1 pgbin
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    export PATH="$PATH:$pgbin"
    rm -rf "$dir"; mkdir -p "$dir"
    pg_as=()
    if [ "$(id -u)" = 0 ]; then chown nobody "$dir"; pg_as=(runuser -u nobody --); fi
    pg_port=$(free_port)
    "${pg_as[@]}" initdb -D "$dir/data" -U postgres --auth=trust >/dev/null
    "${pg_as[@]}" pg_ctl -D "$dir/data" -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
}
stop_postgres() { "${pg_as[@]}" pg_ctl -D "$1/data" -m immediate stop >/dev/null 2>&1 || true; }

# bot_postgres URL MESSAGES: the database `bench` made on the server of
# start_postgres and filled like a bot's: MESSAGES messages (hex tokens and
# text, compressing about 2:1) from MESSAGES/20 users; URL names it
# (bench/postgres.sh, bench/recovery.sh).
bot_postgres() {
    local url=$1 messages=$2
    psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE bench" postgres
    psql -X -q "$url" <<SQL
CREATE TABLE users (id bigint PRIMARY KEY, name text, lang text, joined timestamptz);
INSERT INTO users SELECT g, 'user_' || md5(g::text), (ARRAY['en','ru','de','es'])[1 + g % 4],
    now() - (g % 1000) * interval '1 hour' FROM generate_series(1, $((messages / 20))) g;
CREATE TABLE messages (id bigint PRIMARY KEY, user_id bigint, at timestamptz, kind int, token text, body text);
INSERT INTO messages SELECT g, 1 + g % $((messages / 20)), now() - g * interval '1 second', g % 7,
    md5(random()::text), 'request ' || (g % 5000) || ' ' || md5((g % 977)::text) || ' ' || repeat('ok ', g % 20)
    FROM generate_series(1, $messages) g;
CREATE INDEX ON messages (user_id);
VACUUM ANALYZE;
SQL
}

# start_seaweedfs DIR BUCKET: a throw-away SeaweedFS in DIR (made afresh)
# with the S3 API on a free loopback port (key BENCHKEY, secret
# benchsecret123) and BUCKET made. Sets s3_port and weed_pid (kill it in the
# EXIT trap).
start_seaweedfs() {
    local dir=$1 bucket=$2 filer
    s3_port=$(free_port); filer=$(free_port)
    rm -rf "$dir"; mkdir -p "$dir/data"
    cat > "$dir/s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"BENCHKEY","secretKey":"benchsecret123"}],"actions":["Admin","Read","Write","List"]}]}
JSON
    weed server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port="$(free_port)" -master.port.grpc="$(free_port)" \
        -volume.port="$(free_port)" -volume.port.grpc="$(free_port)" -filer.port="$filer" -filer.port.grpc="$(free_port)" \
        -s3 -s3.port="$s3_port" -s3.port.grpc="$(free_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$dir/s3.json" -master.volumeSizeLimitMB=1024 > "$dir/log" 2>&1 &
    weed_pid=$!
    until [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$filer/buckets/$bucket/")" = 201 ]; do sleep 0.5; done
}

# seaweedfs_destination BUCKET SECRET_FILE: the `[[destinations.s3]]` named
# BUCKET that sends to BUCKET under `lifeboat/` on the SeaweedFS of
# start_seaweedfs, printed; its secret key is written to SECRET_FILE
# (bench/recovery.sh, bench/s3.sh).
seaweedfs_destination() {
    local bucket=$1 secret=$2
    echo benchsecret123 > "$secret"
    chmod 600 "$secret"
    cat <<TOML
[[destinations.s3]]
name = "$bucket"
endpoint = "http://127.0.0.1:$s3_port"
bucket = "$bucket"
prefix = "lifeboat/"
access_key_id = "BENCHKEY"
secret_access_key_file = "$secret"
TOML
}

# A config for DATA backed up into OUT, written to FILE, that makes every
# backup after the first a differential (bench/diff.sh, bench/diff-write.sh).
differential_config() {
    cat > "$1" <<TOML
[backup]
source_dir = "$2"
output_dir = "$3"
[schedule]
# Full archives on 1 January only: every backup after the first is a differential.
full_cron = "0 0 1 1 *"
TOML
}

# apply_shape SHAPE DIR: the writes between a full archive and a
# differential, on the generated set in DIR (bench/diff.sh, bench/diff-write.sh):
# hour, random-key, spread-updates or vacuum.
apply_shape() {
    local shape=$1 data=$2 db f big
    case "$shape" in
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
}

# compare_writers FULL_ZIP DATA_DIR ROUNDS: snapshots of the databases in
# DATA_DIR (`sqlite3 .backup`), then `bench diff-write`: the time to write
# their differential against FULL_ZIP with page deltas and with every changed
# page whole, alternating, ROUNDS times each (bench/diff.sh, bench/diff-write.sh).
compare_writers() {
    local full=$1 data=$2 rounds=$3 snaps f
    snaps=$(mktemp -d "$data.snapshots.XXXXXX")
    for f in "$data"/*.db; do sqlite3 "$f" ".backup '$snaps/$(basename "$f")'"; done
    sync
    "$rel/examples/bench" diff-write "$full" "$snaps" "$rounds"
    rm -rf "$snaps"
}
