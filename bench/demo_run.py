"""`bench/continuous.py demo SECONDS`: continuous protection on the 300 MB
demo set (see there)."""
import datetime, os, shutil, sqlite3, subprocess, time

DBS = ["user_requests.db", "analytics.db", "premium_system.db", "historical_prices.db", "bypass_stats.db"]
MB = float(os.environ.get("DEMO_MB", "60"))


def config(d, on, data=None):
    return (f'[backup]\nsource_dir = "{data or d + "/data"}"\noutput_dir = "{d}/out"\ndatabases = {DBS!r}\n'.replace("'", '"')
            + '[schedule]\ncron = "0 0 1 1 *"\nfull_cron = "0 0 1 1 *"\n'
            + f'[continuous]\nenabled = {"true" if on else "false"}\ninterval_secs = 10\n')


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def run(T, secs, template, on):
    d = os.path.join(os.environ.get("BENCH_DIR", "/tmp/lifeboat-continuous"), "demo-" + ("on" if on else "off"))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copytree(template, d + "/data")
    cfg = d + "/lifeboat.toml"
    open(cfg, "w").write(config(d, on))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT")}
    subprocess.run([T + "/lifeboat", "--config", cfg, "backup"], env=env, check=True, capture_output=True)
    c = sqlite3.connect(d + "/data/user_requests.db", isolation_level=None)
    c.execute("PRAGMA journal_mode=wal")
    c.execute("CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
    c.execute("CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, t_ms INTEGER, account INTEGER, amount INTEGER, memo TEXT)")
    c.execute("INSERT OR IGNORE INTO accounts SELECT value, 0 FROM (WITH RECURSIVE r(value) AS (SELECT 0 UNION ALL SELECT value + 1 FROM r WHERE value < 99) SELECT value FROM r)")
    p = subprocess.Popen([T + "/lifeboat-scheduler", "--config", cfg], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The first capture of each database (its chain's full image) is not
    # the steady state: start the clock once every database has one.
    deadline = time.time() + 600
    while on and time.time() < deadline:
        done = [db for db in DBS if os.path.isdir(f"{d}/out/continuous/{db}") and os.listdir(f"{d}/out/continuous/{db}")]
        if len(done) == len(DBS):
            break
        time.sleep(0.5)
    time.sleep(2)
    c0 = cpu(p.pid)
    t0 = time.time()
    n, lat, commits, last = 0, [], [], time.time()
    while time.time() - t0 < secs:
        s = time.time()
        c.execute("BEGIN")
        c.execute("INSERT INTO ledger (t_ms, account, amount, memo) VALUES (?,?,?,?)", (int(s * 1000), n % 100, 5, "x" * 200))
        c.execute("UPDATE accounts SET balance=balance+5 WHERE id=?", (n % 100,))
        c.execute("COMMIT")
        e = time.time()
        lat.append(e - s)
        commits.append(e)
        n += 1
        if e - last > 2.5:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            last = time.time()
        time.sleep(max(0, 0.01 - (time.time() - s)))
    time.sleep(12)
    c1 = cpu(p.pid)
    el = time.time() - t0
    p.terminate()
    p.wait()
    out = {"commits": n, "rate": n / secs, "cpu_s": c1 - c0, "elapsed": el,
           "p50_ms": pct(lat, 0.5) * 1000, "p99_ms": pct(lat, 0.99) * 1000}
    if on:
        inc = f"{d}/out/continuous/user_requests.db"
        files = sorted(os.listdir(inc))
        steady = [f for f in files if f.split("-")[1] != "0000000000" and f.endswith(".inc")]
        stamp = lambda f: datetime.datetime.strptime(f.split("-")[2].split(".inc")[0], "%Y%m%dT%H%M%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        written = [(stamp(f), os.stat(inc + "/" + f).st_mtime) for f in files]
        # Each commit is durable once the first increment read after it is written.
        lags = []
        for t in commits:
            after = [m for (cap, m) in written if cap >= t]
            if after:
                lags.append(min(after) - t)
        window = [f for f in steady if t0 <= stamp(f) <= t0 + el]
        wbytes = sum(os.path.getsize(inc + "/" + f) for f in window)
        full = sum(os.path.getsize(f"{d}/out/continuous/{db}/{f}") for db in DBS
                   for f in os.listdir(f"{d}/out/continuous/{db}") if f.split("-")[1] == "0000000000")
        r = subprocess.run([T + "/lifeboat", "--config", cfg, "backup"], env=env, check=True, capture_output=True, text=True)
        archive = r.stdout.splitlines()[0].strip()
        out.update({"lag_p50": pct(lags, 0.5), "lag_p99": pct(lags, 0.99), "lag_max": max(lags),
                    "lagged": len(lags), "increments": len(window), "inc_bytes": wbytes,
                    "inc_mb_h": wbytes / el * 3600 / 1e6, "full_images_mb": full / 1e6,
                    "differential": os.path.basename(archive), "diff_mb": os.path.getsize(archive) / 1e6})
    return out


def main(T, secs):
    template = os.path.join(os.environ.get("BENCH_DIR", "/tmp/lifeboat-continuous"), "demo-template")
    if not os.path.isdir(template):
        os.makedirs(template)
        cfg = template + ".toml"
        open(cfg, "w").write(config(template + "-out", False, data=template))
        subprocess.run([T + "/lifeboat", "--config", cfg, "demo", "--no-backup", "--scale-mb", str(MB)], check=True,
                       capture_output=True)
    size = sum(os.path.getsize(template + "/" + f) for f in os.listdir(template)) / 1e6
    print(f"demo set: {size:.0f} MB in {len(os.listdir(template))} files")
    for on in (False, True):
        r = run(T, secs, template, on)
        print(("on " if on else "off"), {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
