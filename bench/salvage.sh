#!/usr/bin/env bash
# Salvage against the plain tools on the same damage: premium_system.db of
# the demo set, rows added after its archive, then one table leaf page of
# `payments` overwritten. Counts the payments each way gets back:
# `lifeboat salvage`, `sqlite3 .recover`, and `.dump` with its closing
# ROLLBACK turned into COMMIT (the manual fix), with the wall time of each.
# Usage: bench/salvage.sh [SCALE_MB=20] [PAGES=1]
# Env: BENCH_DIR (work folder), LIFEBOAT (the binary; default: the release build).
# Needs sqlite3, python3 and /usr/bin/time. Figures: docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/common.sh"
scale=${1:-20}
pages=${2:-1}
work=$(work_dir)
if [ -z "${LIFEBOAT:-}" ]; then
    cargo build --quiet --release -p lifeboat
    LIFEBOAT="$rel/lifeboat"
fi
rm -rf "$work/salvage" && mkdir -p "$work/salvage" && cd "$work/salvage"
printf '[backup]\nsource_dir = "data"\noutput_dir = "out"\n' > lifeboat.toml
lb=("$LIFEBOAT" --config lifeboat.toml)
"${lb[@]}" demo --no-backup --scale-mb "$scale" > /dev/null 2>&1
"${lb[@]}" backup > /dev/null
db=data/premium_system.db
sqlite3 "$db" "INSERT INTO payments (user_id, subscription_id, amount_cents, currency, provider, provider_charge_id, paid_at)
    SELECT user_id, subscription_id, amount_cents, currency, provider, 'new-' || id, paid_at FROM payments LIMIT 50;
    PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
total=$(sqlite3 "$db" "SELECT count(*) FROM payments")
# Overwrite PAGES table leaves of payments, spread over the file (type 0x0D
# pages holding a payment's charge id; the index holds them on 0x0A pages).
lost=$(python3 - "$db" "$pages" <<'PY'
import sys
path, pages = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, 'rb').read())
ps = int.from_bytes(b[16:18], 'big')
leaves = [p for p in range(ps, len(b), ps) if b[p] == 0x0D and b'ch_' in b[p:p + ps]]
lost = 0
for p in leaves[len(leaves) // (pages + 1)::len(leaves) // (pages + 1)][:pages]:
    lost += int.from_bytes(b[p + 3:p + 5], 'big')
    b[p:p + ps] = b'\x5a' * ps
open(path, 'wb').write(b)
print(lost)
PY
)
timed() { /usr/bin/time -f '%e' -o time.txt "$@" > out.txt 2> err.txt || true; cat time.txt | tail -1; }
count() { sqlite3 "$1" "SELECT count(*) FROM payments" 2>/dev/null || echo 0; }

t_salvage=$(timed "${lb[@]}" salvage premium_system.db --to salvaged)
n_salvage=$(count salvaged/premium_system.db)
cp "$db" recover-src.db
t_recover=$(timed sh -c 'sqlite3 recover-src.db .recover | sqlite3 recovered.db')
n_recover=$(count recovered.db)
cp "$db" dump-src.db
t_dump=$(timed sh -c 'sqlite3 dump-src.db .dump | sed "s/^ROLLBACK; -- due to errors$/COMMIT;/" | sqlite3 dumped.db')
n_dump=$(count dumped.db)
echo "payments: $total rows, $lost on the $pages damaged page(s)"
printf '%-28s %10s %8s\n' "tool" "payments" "wall s"
printf '%-28s %10s %8s\n' "lifeboat salvage" "$n_salvage" "$t_salvage"
printf '%-28s %10s %8s\n' "sqlite3 .recover" "$n_recover" "$t_recover"
printf '%-28s %10s %8s\n' "sqlite3 .dump, COMMIT" "$n_dump" "$t_dump"
