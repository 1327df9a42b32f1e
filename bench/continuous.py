"""Continuous protection under a writer: the scheduler daemon's CPU, the
increments' bytes and the writer's commit latency.

    python3 bench/continuous.py plain|truncate|random SECONDS    # OFF=1: [continuous] off
    T=target/release python3 bench/continuous.py truncate 60
    python3 bench/continuous.py demo SECONDS              # the 300 MB demo set, on and off

"truncate": the writer runs PRAGMA wal_checkpoint(TRUNCATE) every 2.5 s.
"random": as "plain", but each row's memo is a random key with an index on
it, so every commit also adds an entry to a random page of that index.
"demo": `lifeboat demo --scale-mb 60` (five databases, three in WAL mode,
two in rollback-journal mode, about 300 MB), the same writer (ledger
tables in user_requests.db, TRUNCATE every 2.5 s), run with [continuous]
off and then on; also the commit-to-durable lag of every commit and the
differential archive of the same window.
Results: docs/benchmarks.md, "Continuous protection".
"""
import os, sqlite3, subprocess, sys, time, shutil
T=os.environ.get("T","target/debug")
if sys.argv[1] == "demo":
    import demo_run
    demo_run.main(T, int(sys.argv[2]))
    sys.exit(0)
truncate = sys.argv[1] == "truncate"
random_key = sys.argv[1] == "random"
secs = int(sys.argv[2])
d = os.path.join(os.environ.get("BENCH_DIR", "/tmp/lifeboat-continuous"), f"run-{sys.argv[1]}")
shutil.rmtree(d, ignore_errors=True); os.makedirs(d+"/data")
cfg = d+"/lifeboat.toml"
open(cfg,"w").write(f'[backup]\nsource_dir = "{d}/data"\noutput_dir = "{d}/out"\ndatabases = ["ledger.db"]\n[continuous]\nenabled = {"false" if os.environ.get("OFF") else "true"}\ninterval_secs = 10\n')
c = sqlite3.connect(d+"/data/ledger.db", isolation_level=None)
c.execute("PRAGMA journal_mode=wal")
c.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
c.execute("CREATE TABLE ledger (seq INTEGER PRIMARY KEY, t_ms INTEGER, account INTEGER, amount INTEGER, memo TEXT)")
c.execute("BEGIN")
for i in range(100): c.execute("INSERT INTO accounts VALUES (?,0)", (i,))
# some bulk: ~20 MB of history
c.execute("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM r WHERE x < 80000) INSERT INTO ledger (t_ms, account, amount, memo) SELECT 0, x % 100, 0, hex(randomblob(100)) FROM r")
if random_key: c.execute("CREATE INDEX ledger_memo ON ledger (memo)")
c.execute("COMMIT")
env = {k:v for k,v in os.environ.items() if not k.startswith("LIFEBOAT")}
subprocess.run([T+"/lifeboat","--config",cfg,"backup"], env=env, check=True, capture_output=True)
p = subprocess.Popen([T+"/lifeboat-scheduler","--config",cfg], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(3)
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK")
c0 = cpu(p.pid); t0=time.time(); n=0; lat=[]; last=time.time()
while time.time()-t0 < secs:
    s=time.time()
    c.execute("BEGIN"); 
    c.execute("INSERT INTO ledger (t_ms, account, amount, memo) VALUES (?,?,?,?)", (int(s*1000), n%100, 5, os.urandom(16).hex() if random_key else "x"*200))
    c.execute("UPDATE accounts SET balance=balance+5 WHERE id=?", (n%100,))
    c.execute("COMMIT"); lat.append(time.time()-s); n+=1
    if truncate and time.time()-last > 2.5:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); last=time.time()
    time.sleep(max(0, 0.01-(time.time()-s)))
time.sleep(12)
c1 = cpu(p.pid); el=time.time()-t0
p.terminate(); p.wait()
inc = d+f"/out/continuous/ledger.db"
os.makedirs(inc, exist_ok=True)
files = os.listdir(inc); size = sum(os.path.getsize(inc+"/"+f) for f in files)
# After the chain's full image (number 0): what the writes cost.
later = sum(os.path.getsize(inc+"/"+f) for f in files if not f.split("-")[1].strip("0") == "")
lat.sort()
dbsize = os.path.getsize(d+"/data/ledger.db")
print(f"{sys.argv[1]}: {n} commits in {secs}s ({n/secs:.0f}/s), db {dbsize/1e6:.1f} MB; daemon CPU {c1-c0:.2f}s over {el:.0f}s = {100*(c1-c0)/el:.1f}% of a core; {len(files)} increments, {size/1e3:.0f} kB ({size/1e3/ (el) *3600/1e3:.1f} MB/h incl. the full image), {later/1e3:.0f} kB after the full image ({later/el*3600/1e6:.2f} MB/h); writer commit p50 {lat[len(lat)//2]*1000:.2f} ms p99 {lat[int(len(lat)*0.99)]*1000:.2f} ms")
