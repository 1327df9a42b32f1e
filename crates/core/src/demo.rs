//! The five demo databases of a price/analytics bot, so that a newcomer sees
//! Lifeboat work with one command and the benchmark has realistic data.
//!
//! Every database is generated from a seed (the same seed and `now` give the
//! same rows), filled in one transaction through prepared statements, and
//! written under a temporary name that is linked into place only if the
//! target still does not exist: an existing database is never touched.
//! Some use WAL and others the rollback journal, like a real bot.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, Transaction, params};

/// How much to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Target size of each database in decimal MB (the generator stops at
    /// the first batch that reaches it). The default is small and fast.
    pub scale_mb: f64,
    /// Seed of the pseudo-random rows.
    pub seed: u64,
    /// The newest timestamp in the data; older rows go back from here.
    pub now: DateTime<Utc>,
}

impl DemoOptions {
    /// The default demo: about 1 MB per database.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { scale_mb: DEFAULT_SCALE_MB, seed: DEFAULT_SEED, now }
    }
}

/// Size of each demo database by default, in MB.
pub const DEFAULT_SCALE_MB: f64 = 1.0;
/// Seed used by `lifeboat demo`.
pub const DEFAULT_SEED: u64 = 0x11FE_B0A7;

/// The databases of DESIGN.md's default configuration, with the journal mode
/// each gets.
pub const DEMO_DATABASES: [(&str, JournalMode); 5] = [
    ("user_requests.db", JournalMode::Wal),
    ("analytics.db", JournalMode::Wal),
    ("premium_system.db", JournalMode::Delete),
    ("historical_prices.db", JournalMode::Delete),
    ("bypass_stats.db", JournalMode::Wal),
];

/// The journal mode a demo database is left in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// Write-ahead log.
    Wal,
    /// Rollback journal, deleted after each transaction.
    Delete,
}

impl JournalMode {
    fn pragma(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
        }
    }
}

/// What happened to one configured database.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoDatabase {
    /// File name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// False when it existed already (and was left alone).
    pub created: bool,
    /// Size in bytes after creation (or as found).
    pub size: u64,
    /// Rows written over all tables (0 when it existed).
    pub rows: u64,
}

/// Creating the demo databases failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file-system operation.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite.
    #[error("writing demo database {path}: {source}")]
    Sqlite {
        /// The temporary file being written.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
}

/// Creates each of `names` in `dir` that does not exist yet; existing files
/// (whatever they contain) are left untouched. Names other than the five
/// demo ones get a generic bot database.
pub fn create_missing(dir: &Path, names: &[String], opts: &DemoOptions) -> Result<Vec<DemoDatabase>, DemoError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| DemoError::Io { context: format!("creating {}", dir.display()), source })?;
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            out.push(DemoDatabase { name: name.clone(), path, created: false, size, rows: 0 });
            continue;
        }
        let mode = DEMO_DATABASES.iter().find(|(n, _)| n == name).map(|(_, m)| *m).unwrap_or(JournalMode::Wal);
        // Each database gets its own stream so adding one does not change the others.
        let seed = opts.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hash_name(name);
        let tmp = dir.join(format!(".{name}.demo-{}.tmp", std::process::id()));
        let result = generate(&tmp, name, mode, seed, opts);
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                remove_with_sidecars(&tmp);
                return Err(e);
            }
        };
        if let Err(source) = std::fs::File::open(&tmp).and_then(|f| f.sync_all()) {
            remove_with_sidecars(&tmp);
            return Err(DemoError::Io { context: format!("syncing {}", tmp.display()), source });
        }
        // A hard link fails if the target appeared meanwhile: never overwrite.
        let linked = std::fs::hard_link(&tmp, &path);
        remove_with_sidecars(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                out.push(DemoDatabase { name: name.clone(), path, created: false, size, rows: 0 });
                continue;
            }
            Err(source) => {
                return Err(DemoError::Io {
                    context: format!("moving the new database to {}", path.display()),
                    source,
                });
            }
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        out.push(DemoDatabase { name: name.clone(), path, created: true, size, rows });
    }
    Ok(out)
}

fn remove_with_sidecars(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn hash_name(name: &str) -> u64 {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn generate(tmp: &Path, name: &str, mode: JournalMode, seed: u64, opts: &DemoOptions) -> Result<u64, DemoError> {
    let sql = |source| DemoError::Sqlite { path: tmp.to_path_buf(), source };
    let mut conn = Connection::open(tmp).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", mode.pragma()).map_err(sql)?;
    // A fresh private file: no fsync needed until it is linked into place,
    // and a larger cache keeps the one big transaction from spilling early.
    conn.pragma_update(None, "synchronous", "off").map_err(sql)?;
    conn.pragma_update(None, "cache_size", -32_000).map_err(sql)?;
    let target_bytes = (opts.scale_mb.max(0.01) * 1_000_000.0) as u64;
    let mut g = Gen { rng: Rng(seed | 1), now: opts.now, target_bytes };
    let tx = conn.transaction().map_err(sql)?;
    let rows = match name {
        "user_requests.db" => g.user_requests(&tx),
        "analytics.db" => g.analytics(&tx),
        "premium_system.db" => g.premium(&tx),
        "historical_prices.db" => g.prices(&tx),
        "bypass_stats.db" => g.bypass(&tx),
        _ => g.generic(&tx),
    }
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    // Leaves the WAL checkpointed and removed, as a bot that shut down cleanly would.
    conn.close().map_err(|(_, e)| sql(e))?;
    Ok(rows)
}

/// A 64-bit LCG (Knuth's MMIX constants); plenty for demo data, and stable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 42) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SYMBOLS: [(&str, &str, &str, f64); 12] = [
    ("BTC", "Bitcoin", "crypto", 67000.0),
    ("ETH", "Ethereum", "crypto", 3400.0),
    ("SOL", "Solana", "crypto", 150.0),
    ("TON", "Toncoin", "crypto", 6.5),
    ("DOGE", "Dogecoin", "crypto", 0.15),
    ("AAPL", "Apple Inc.", "NASDAQ", 190.0),
    ("MSFT", "Microsoft", "NASDAQ", 420.0),
    ("NVDA", "NVIDIA", "NASDAQ", 120.0),
    ("TSLA", "Tesla", "NASDAQ", 240.0),
    ("EURUSD", "Euro / US Dollar", "forex", 1.08),
    ("XAUUSD", "Gold spot", "commodities", 2350.0),
    ("SBER", "Sberbank", "MOEX", 300.0),
];
const COMMANDS: [&str; 8] = ["/price", "/chart", "/alert", "/portfolio", "/start", "/help", "/convert", "/top"];
const LANGS: [&str; 6] = ["en", "ru", "de", "es", "uk", "tr"];
const NAMES: [&str; 12] =
    ["alex", "maria", "ivan", "kate", "john", "olga", "pavel", "sara", "tom", "nina", "max", "lena"];

struct Gen {
    rng: Rng,
    now: DateTime<Utc>,
    target_bytes: u64,
}

/// How often the size is compared with the target.
const BATCH: u64 = 2000;

impl Gen {
    fn users(&self) -> i64 {
        // More data, more users: about one user per 4 KB, at least 50.
        (self.target_bytes / 4000).clamp(50, 200_000) as i64
    }

    fn ts_back(&mut self, max_secs: i64) -> String {
        fmt_ts(self.now - Duration::seconds(self.rng.range(0, max_secs)))
    }

    fn full(&self, tx: &Transaction<'_>) -> rusqlite::Result<bool> {
        let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = tx.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((pages * size) as u64 >= self.target_bytes)
    }

    fn user_requests(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch(
            "CREATE TABLE users (
                 id INTEGER PRIMARY KEY,
                 telegram_id INTEGER NOT NULL UNIQUE,
                 username TEXT,
                 language TEXT NOT NULL,
                 is_premium INTEGER NOT NULL DEFAULT 0,
                 created_at TEXT NOT NULL
             );
             CREATE TABLE requests (
                 id INTEGER PRIMARY KEY,
                 user_id INTEGER NOT NULL REFERENCES users(id),
                 command TEXT NOT NULL,
                 symbol TEXT,
                 requested_at TEXT NOT NULL,
                 response_ms INTEGER NOT NULL,
                 status TEXT NOT NULL
             );
             CREATE INDEX requests_user_time ON requests(user_id, requested_at);
             CREATE TABLE rate_limits (
                 user_id INTEGER PRIMARY KEY REFERENCES users(id),
                 window_start TEXT NOT NULL,
                 request_count INTEGER NOT NULL,
                 blocked_until TEXT
             );",
        )?;
        let users = self.users();
        let mut rows = 0;
        {
            let mut st = tx.prepare(
                "INSERT INTO users (id, telegram_id, username, language, is_premium, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for id in 1..=users {
                let tg = 100_000_000 + self.rng.range(0, 7_000_000_000);
                let name = format!("{}{}", self.rng.pick(&NAMES), self.rng.below(10_000));
                let lang = *self.rng.pick(&LANGS);
                let premium = self.rng.chance(0.12) as i64;
                let created = self.ts_back(365 * 86400);
                st.execute(params![id, tg + id, name, lang, premium, created])?;
                rows += 1;
            }
        }
        let mut counts = vec![0i64; users as usize + 1];
        {
            let mut st = tx.prepare(
                "INSERT INTO requests (user_id, command, symbol, requested_at, response_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            loop {
                for _ in 0..BATCH {
                    // A few heavy users make most requests, as in real bots.
                    let user =
                        if self.rng.chance(0.3) { self.rng.range(1, 20.min(users)) } else { self.rng.range(1, users) };
                    let cmd = *self.rng.pick(&COMMANDS);
                    let symbol = matches!(cmd, "/price" | "/chart" | "/alert").then(|| self.rng.pick(&SYMBOLS).0);
                    let limited = self.rng.chance(0.03);
                    let status = if limited {
                        "rate_limited"
                    } else if self.rng.chance(0.01) {
                        "error"
                    } else {
                        "ok"
                    };
                    let ms = if limited { 1 } else { self.rng.range(40, 1800) };
                    let at = self.ts_back(30 * 86400);
                    st.execute(params![user, cmd, symbol, at, ms, status])?;
                    counts[user as usize] += 1;
                    rows += 1;
                }
                if self.full(tx)? {
                    break;
                }
            }
        }
        {
            let mut st = tx.prepare(
                "INSERT INTO rate_limits (user_id, window_start, request_count, blocked_until) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (user, n) in counts.iter().enumerate().skip(1).filter(|(_, n)| **n > 0) {
                let window = self.ts_back(3600);
                let in_window = (*n).min(self.rng.range(1, 40));
                let blocked = (in_window >= 30).then(|| fmt_ts(self.now + Duration::minutes(self.rng.range(1, 15))));
                st.execute(params![user as i64, window, in_window, blocked])?;
                rows += 1;
            }
        }
        Ok(rows)
    }

    fn analytics(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch(
            "CREATE TABLE events (
                 id INTEGER PRIMARY KEY,
                 user_id INTEGER NOT NULL,
                 event_type TEXT NOT NULL,
                 properties TEXT NOT NULL,
                 occurred_at TEXT NOT NULL
             );
             CREATE INDEX events_type_time ON events(event_type, occurred_at);
             CREATE TABLE daily_stats (
                 day TEXT PRIMARY KEY,
                 active_users INTEGER NOT NULL,
                 requests INTEGER NOT NULL,
                 new_users INTEGER NOT NULL,
                 revenue_cents INTEGER NOT NULL
             );",
        )?;
        const TYPES: [&str; 7] =
            ["command", "button_click", "price_view", "chart_render", "alert_fired", "subscription_view", "share"];
        let users = self.users();
        let mut rows = 0;
        {
            let mut st = tx
                .prepare("INSERT INTO events (user_id, event_type, properties, occurred_at) VALUES (?1, ?2, ?3, ?4)")?;
            loop {
                for _ in 0..BATCH {
                    let user = self.rng.range(1, users);
                    let kind = *self.rng.pick(&TYPES);
                    let props = format!(
                        r#"{{"symbol":"{}","client":"{}","latency_ms":{},"session":"{:08x}"}}"#,
                        self.rng.pick(&SYMBOLS).0,
                        self.rng.pick(&["android", "ios", "desktop", "web"]),
                        self.rng.range(20, 900),
                        self.rng.next() as u32
                    );
                    let at = self.ts_back(30 * 86400);
                    st.execute(params![user, kind, props, at])?;
                    rows += 1;
                }
                if self.full(tx)? {
                    break;
                }
            }
        }
        {
            let mut st = tx.prepare(
                "INSERT INTO daily_stats (day, active_users, requests, new_users, revenue_cents) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for d in 0..90 {
                let day = (self.now - Duration::days(d)).format("%Y-%m-%d").to_string();
                let active = self.rng.range(users / 4, users);
                st.execute(params![
                    day,
                    active,
                    active * self.rng.range(3, 12),
                    self.rng.range(0, users / 20 + 1),
                    self.rng.range(0, 50_000)
                ])?;
                rows += 1;
            }
        }
        Ok(rows)
    }

    /// Payments and balances are kept consistent: each user's balance is the
    /// sum of their payments, which a torn copy would break.
    fn premium(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch(
            "CREATE TABLE plans (
                 code TEXT PRIMARY KEY,
                 title TEXT NOT NULL,
                 price_cents INTEGER NOT NULL,
                 period_days INTEGER NOT NULL
             );
             INSERT INTO plans VALUES
                 ('basic', 'Basic: alerts on 5 symbols', 299, 30),
                 ('pro', 'Pro: unlimited alerts and charts', 799, 30),
                 ('pro_year', 'Pro, yearly', 7990, 365);
             CREATE TABLE subscriptions (
                 id INTEGER PRIMARY KEY,
                 user_id INTEGER NOT NULL,
                 plan TEXT NOT NULL REFERENCES plans(code),
                 status TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 expires_at TEXT NOT NULL
             );
             CREATE TABLE payments (
                 id INTEGER PRIMARY KEY,
                 user_id INTEGER NOT NULL,
                 subscription_id INTEGER NOT NULL REFERENCES subscriptions(id),
                 amount_cents INTEGER NOT NULL,
                 currency TEXT NOT NULL,
                 provider TEXT NOT NULL,
                 provider_charge_id TEXT NOT NULL UNIQUE,
                 paid_at TEXT NOT NULL
             );
             CREATE INDEX payments_user ON payments(user_id);
             CREATE TABLE balances (
                 user_id INTEGER PRIMARY KEY,
                 total_paid_cents INTEGER NOT NULL,
                 payments_count INTEGER NOT NULL,
                 updated_at TEXT NOT NULL
             );",
        )?;
        const PLANS: [(&str, i64, i64); 3] = [("basic", 299, 30), ("pro", 799, 30), ("pro_year", 7990, 365)];
        let users = self.users();
        let mut rows = 3;
        let mut balances = std::collections::BTreeMap::<i64, (i64, i64)>::new();
        {
            let mut sub = tx.prepare(
                "INSERT INTO subscriptions (user_id, plan, status, started_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut pay = tx.prepare(
                "INSERT INTO payments (user_id, subscription_id, amount_cents, currency, provider, provider_charge_id, paid_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            loop {
                for _ in 0..BATCH / 4 {
                    let user = self.rng.range(1, users);
                    let (plan, price, days) = *self.rng.pick(&PLANS);
                    let start = self.now - Duration::seconds(self.rng.range(0, 400 * 86400));
                    let expires = start + Duration::days(days);
                    let status = if expires < self.now {
                        "expired"
                    } else if self.rng.chance(0.05) {
                        "cancelled"
                    } else {
                        "active"
                    };
                    sub.execute(params![user, plan, status, fmt_ts(start), fmt_ts(expires)])?;
                    let sub_id = tx.last_insert_rowid();
                    rows += 1;
                    // Renewals: one to three payments per subscription.
                    for k in 0..self.rng.range(1, 3) {
                        let provider = *self.rng.pick(&["telegram_stars", "stripe", "yookassa", "crypto_pay"]);
                        let currency = if provider == "telegram_stars" { "XTR" } else { "USD" };
                        let charge = format!("ch_{:016x}", self.rng.next());
                        let paid = fmt_ts(start + Duration::days(k * days));
                        pay.execute(params![user, sub_id, price, currency, provider, charge, paid])?;
                        let b = balances.entry(user).or_default();
                        b.0 += price;
                        b.1 += 1;
                        rows += 1;
                    }
                }
                if self.full(tx)? {
                    break;
                }
            }
        }
        {
            let mut st = tx.prepare(
                "INSERT INTO balances (user_id, total_paid_cents, payments_count, updated_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let now = fmt_ts(self.now);
            for (user, (total, count)) in &balances {
                st.execute(params![user, total, count, now])?;
                rows += 1;
            }
        }
        Ok(rows)
    }

    fn prices(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch(
            "CREATE TABLE symbols (
                 id INTEGER PRIMARY KEY,
                 ticker TEXT NOT NULL UNIQUE,
                 name TEXT NOT NULL,
                 exchange TEXT NOT NULL
             );
             CREATE TABLE prices (
                 symbol_id INTEGER NOT NULL REFERENCES symbols(id),
                 ts TEXT NOT NULL,
                 open REAL NOT NULL,
                 high REAL NOT NULL,
                 low REAL NOT NULL,
                 close REAL NOT NULL,
                 volume REAL NOT NULL,
                 PRIMARY KEY (symbol_id, ts)
             ) WITHOUT ROWID;",
        )?;
        let mut rows = 0;
        {
            let mut st = tx.prepare("INSERT INTO symbols (id, ticker, name, exchange) VALUES (?1, ?2, ?3, ?4)")?;
            for (i, (t, n, e, _)) in SYMBOLS.iter().enumerate() {
                st.execute(params![i as i64 + 1, t, n, e])?;
                rows += 1;
            }
        }
        let mut last: Vec<f64> = SYMBOLS.iter().map(|s| s.3).collect();
        let mut st = tx.prepare(
            "INSERT INTO prices (symbol_id, ts, open, high, low, close, volume) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        // One-minute candles going back in time from `now`, every symbol per minute.
        let mut minute = 0i64;
        loop {
            for _ in 0..BATCH / SYMBOLS.len() as u64 {
                let at = fmt_ts(self.now - Duration::minutes(minute));
                for (i, price) in last.iter_mut().enumerate() {
                    let open = *price;
                    let drift = (self.rng.unit() - 0.5) * 0.004;
                    let close = (open * (1.0 + drift)).max(0.0001);
                    let high = open.max(close) * (1.0 + self.rng.unit() * 0.0015);
                    let low = open.min(close) * (1.0 - self.rng.unit() * 0.0015);
                    let volume = (self.rng.unit() * 1000.0 * (1.0 + 100.0 / open.max(1.0))).round();
                    st.execute(params![i as i64 + 1, at, round(open), round(high), round(low), round(close), volume])?;
                    *price = close;
                    rows += 1;
                }
                minute += 1;
            }
            if self.full(tx)? {
                break;
            }
        }
        Ok(rows)
    }

    fn bypass(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch(
            "CREATE TABLE bypass_attempts (
                 id INTEGER PRIMARY KEY,
                 user_id INTEGER NOT NULL,
                 method TEXT NOT NULL,
                 target_host TEXT NOT NULL,
                 success INTEGER NOT NULL,
                 latency_ms INTEGER NOT NULL,
                 error TEXT,
                 attempted_at TEXT NOT NULL
             );
             CREATE INDEX bypass_method_time ON bypass_attempts(method, attempted_at);
             CREATE TABLE method_stats (
                 method TEXT PRIMARY KEY,
                 attempts INTEGER NOT NULL,
                 successes INTEGER NOT NULL,
                 avg_latency_ms INTEGER NOT NULL,
                 updated_at TEXT NOT NULL
             );",
        )?;
        const METHODS: [(&str, f64); 5] =
            [("proxy_pool", 0.92), ("mirror", 0.85), ("cdn_fronting", 0.7), ("tor", 0.6), ("direct", 0.4)];
        const HOSTS: [&str; 6] = [
            "api.binance.com",
            "query1.finance.yahoo.com",
            "api.coingecko.com",
            "iss.moex.com",
            "api.kraken.com",
            "www.alphavantage.co",
        ];
        const ERRORS: [&str; 4] = ["timeout", "connection reset", "HTTP 403", "TLS handshake failed"];
        let users = self.users();
        let mut rows = 0;
        let mut stats = [(0i64, 0i64, 0i64); METHODS.len()];
        {
            let mut st = tx.prepare(
                "INSERT INTO bypass_attempts (user_id, method, target_host, success, latency_ms, error, attempted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            loop {
                for _ in 0..BATCH {
                    let m = self.rng.below(METHODS.len() as u64) as usize;
                    let (method, p) = METHODS[m];
                    let ok = self.rng.chance(p);
                    let latency = self.rng.range(30, if ok { 2500 } else { 15000 });
                    let error = (!ok).then(|| *self.rng.pick(&ERRORS));
                    let at = self.ts_back(30 * 86400);
                    let user = self.rng.range(1, users);
                    st.execute(params![user, method, self.rng.pick(&HOSTS), ok as i64, latency, error, at])?;
                    stats[m].0 += 1;
                    stats[m].1 += ok as i64;
                    stats[m].2 += latency;
                    rows += 1;
                }
                if self.full(tx)? {
                    break;
                }
            }
        }
        let mut st = tx.prepare(
            "INSERT INTO method_stats (method, attempts, successes, avg_latency_ms, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (m, (n, ok, lat)) in stats.iter().enumerate() {
            st.execute(params![METHODS[m].0, n, ok, lat / (*n).max(1), fmt_ts(self.now)])?;
            rows += 1;
        }
        Ok(rows)
    }

    fn generic(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
        tx.execute_batch("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);")?;
        let mut st = tx.prepare("INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)")?;
        let mut rows = 0u64;
        loop {
            for _ in 0..BATCH {
                let value = format!("{:016x}{:016x}", self.rng.next(), self.rng.next());
                let at = self.ts_back(30 * 86400);
                st.execute(params![format!("key:{rows}"), value, at])?;
                rows += 1;
            }
            if self.full(tx)? {
                break;
            }
        }
        Ok(rows)
    }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn fmt_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn names() -> Vec<String> {
        DEMO_DATABASES.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn opts() -> DemoOptions {
        DemoOptions { scale_mb: 0.2, ..DemoOptions::new(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()) }
    }

    fn dump(path: &Path, sql: &str) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut st = c.prepare(sql).unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn creates_five_checked_databases_with_their_journal_modes() {
        let d = tempfile::tempdir().unwrap();
        let made = create_missing(d.path(), &names(), &opts()).unwrap();
        assert_eq!(made.len(), 5);
        for (db, (name, mode)) in made.iter().zip(DEMO_DATABASES) {
            assert_eq!(db.name, name);
            assert!(db.created && db.rows > 100, "{db:?}");
            assert!(db.size >= 200_000, "{db:?} smaller than its target");
            let report = crate::integrity::check(&db.path).unwrap();
            assert!(report.ok, "{name}: {report:?}");
            let jm: String =
                Connection::open(&db.path).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!(jm, mode.pragma(), "{name}");
        }
        // Nothing temporary is left behind.
        let mut left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left.len(), 5, "{left:?}");
        // Balances are the sum of payments for every user.
        let bad = dump(
            &d.path().join("premium_system.db"),
            "SELECT b.user_id FROM balances b
             WHERE b.total_paid_cents != (SELECT SUM(amount_cents) FROM payments p WHERE p.user_id = b.user_id)
                OR b.payments_count != (SELECT COUNT(*) FROM payments p WHERE p.user_id = b.user_id)
             UNION ALL SELECT DISTINCT p.user_id FROM payments p WHERE p.user_id NOT IN (SELECT user_id FROM balances)",
        );
        assert!(bad.is_empty(), "inconsistent balances for {bad:?}");
    }

    #[test]
    fn same_seed_same_rows_and_existing_files_untouched() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let only = vec!["historical_prices.db".to_string(), "custom.db".to_string()];
        std::fs::write(b.path().join("custom.db"), b"not mine to touch").unwrap();
        create_missing(a.path(), &only, &opts()).unwrap();
        let made = create_missing(b.path(), &only, &opts()).unwrap();
        assert!(made[0].created && !made[1].created);
        assert_eq!(std::fs::read(b.path().join("custom.db")).unwrap(), b"not mine to touch");
        let q = "SELECT symbol_id || ts || close FROM prices ORDER BY symbol_id, ts";
        let rows = dump(&a.path().join("historical_prices.db"), q);
        assert!(rows.len() > 1000);
        assert_eq!(rows, dump(&b.path().join("historical_prices.db"), q));
        // A second run changes nothing.
        let before = std::fs::read(a.path().join("historical_prices.db")).unwrap();
        let again = create_missing(a.path(), &only, &opts()).unwrap();
        assert!(again.iter().all(|d| !d.created));
        assert_eq!(before, std::fs::read(a.path().join("historical_prices.db")).unwrap());
    }

    #[test]
    fn scale_reaches_the_target() {
        let d = tempfile::tempdir().unwrap();
        let o = DemoOptions { scale_mb: 2.0, ..opts() };
        let made = create_missing(d.path(), &["analytics.db".to_string()], &o).unwrap();
        assert!((2_000_000..2_600_000).contains(&made[0].size), "{:?}", made[0]);
    }
}
