//! The tables and rows of each demo database.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Transaction, params};

use crate::Rng;

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

pub(crate) struct Gen {
    rng: Rng,
    now: DateTime<Utc>,
    target_bytes: u64,
}

/// How often the size is compared with the target.
const BATCH: u64 = 2000;

impl Gen {
    pub(crate) fn new(rng: Rng, now: DateTime<Utc>, target_bytes: u64) -> Gen {
        Gen { rng, now, target_bytes }
    }

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

    pub(crate) fn user_requests(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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

    pub(crate) fn analytics(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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
    pub(crate) fn premium(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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

    pub(crate) fn prices(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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

    pub(crate) fn bypass(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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

    pub(crate) fn generic(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<u64> {
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
