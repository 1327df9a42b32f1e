//! Every key's validation, and the strictness the `config` crate lacks.

use super::*;

#[test]
fn defaults_parse_and_validate() {
    let cfg = Config::from_toml("").unwrap();
    assert_eq!(cfg.backup.databases.len(), 5);
    assert_eq!(cfg.backup.compression_level, 6);
    assert_eq!(cfg.schedule.cron, "0 * * * *");
    assert_eq!(cfg.telegram.max_upload_mb, 50);
    assert!(!cfg.delivery_enabled());
}

#[test]
fn text_values_are_parsed_at_load_and_empty_ones_are_off() {
    let off = Config::from_toml("").unwrap();
    assert!(off.schedule.full_cron.is_none() && off.monitoring.ping_url.is_none());
    assert!(off.monitoring.metrics_listen.is_none() && off.destinations.email.smtp_url.is_none());
    let cfg = Config::from_toml(
        "[schedule]\ncron = \" 30 2 * * * \"\nfull_cron = \"0 3 * * 0\"\n\
         [monitoring]\nping_url = \"https://hc-ping.com/abc\"\nmetrics_listen = \"127.0.0.1:9464\"\n\
         [destinations.email]\nsmtp_url = \"smtps://bk@mail.example.com:465\"\n\
         from = \"Lifeboat <bk@example.com>\"\nto = [\"ops@example.com\"]\n",
    )
    .unwrap();
    assert_eq!(cfg.schedule.cron.to_string(), "30 2 * * *", "shown as configured, trimmed");
    assert_eq!(serde_json::to_string(&cfg.schedule.cron).unwrap(), "\"30 2 * * *\"");
    assert_eq!(cfg.schedule.full_cron.as_ref().map(|s| s.as_str()), Some("0 3 * * 0"));
    assert_eq!(cfg.monitoring.ping_url.as_ref().map(url::Url::as_str), Some("https://hc-ping.com/abc"));
    assert_eq!(cfg.monitoring.metrics_listen, Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9464))));
    let e = &cfg.destinations.email;
    assert_eq!(e.smtp_url.as_ref().and_then(url::Url::host_str), Some("mail.example.com"));
    assert_eq!(e.from.as_ref().map(|m| m.email.to_string()).as_deref(), Some("bk@example.com"));
    assert_eq!(e.to.iter().map(ToString::to_string).collect::<Vec<_>>(), ["ops@example.com"]);
    assert_eq!(cfg.telegram.api_url.host_str(), Some("api.telegram.org"));
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("[backup]\ncompression_level = 12", "backup.compression_level"),
        ("[retention]\nkeep_daily = -1", "retention.keep_daily"),
        ("[retention]\nkeep_monthly = 100001", "retention.keep_monthly"),
        ("[monitoring]\nping_url = \"hc-ping.com/abc\"", "monitoring.ping_url"),
        ("[monitoring]\nping_url = \"ftp://hc-ping.com/abc\"", "monitoring.ping_url"),
        ("[monitoring]\nmetrics_listen = \"9464\"", "monitoring.metrics_listen"),
        ("[monitoring]\nshrink_alert_percent = 101", "monitoring.shrink_alert_percent"),
        ("[monitoring]\nstale_after_minutes = -5", "monitoring.stale_after_minutes"),
        ("[monitoring]\nmetrics_file = \"/tmp\"", "monitoring.metrics_file"),
        ("[monitoring]\nquiet_routine = \"yes\"", "monitoring.quiet_routine"),
        ("[backup]\ndatabases = []", "backup.databases"),
        ("[backup]\ndatabases = [\"../etc/passwd\"]", "backup.databases"),
        ("[schedule]\ncron = \"every hour\"", "schedule.cron"),
        ("[retention]\nmax_count = 0", "retention.max_count"),
        ("[telegram]\ntoken = \"abc\"", "telegram.token"),
        ("[telegram]\nmax_upload_mb = 0", "telegram.max_upload_mb"),
        ("[telegram]\napi_url = \"ftp://x\"", "telegram.api_url"),
        ("[retry]\nattempts = 0", "retry.attempts"),
    ];
    for (toml, key) in cases {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
    }
}

#[test]
fn unknown_key_and_wrong_type_are_errors() {
    let err = Config::from_toml("[backup]\ncompresion_level = 3").unwrap_err().to_string();
    assert!(err.contains("compresion_level"), "{err}");
    let err = Config::from_toml("[retention]\nmax_age_days = \"week\"").unwrap_err().to_string();
    assert!(err.contains("max_age_days"), "{err}");
}

#[test]
fn loose_types_are_refused_with_their_key() {
    let cases = [
        ("[telegram]\nadmin_ids = [\"111\"]", "telegram.admin_ids"),
        ("[telegram]\nadmin_ids = [111, 2.5]", "telegram.admin_ids"),
        ("[backup]\ncompression_level = 5.7", "backup.compression_level"),
        ("[telegram]\nmax_upload_mb = 1.5", "telegram.max_upload_mb"),
        ("[telegram]\nowner_id = \"111\"", "telegram.owner_id"),
        ("[backup]\nsource_dir = 5", "backup.source_dir"),
        ("[backup]\ndatabases = \"a.db\"", "backup.databases"),
        ("[retention]\nmax_age_days = 99999999999999999999", "retention.max_age_days"),
        ("[telegram]\nmax_upload_mb = 18446744073709551616", "telegram.max_upload_mb"),
    ];
    for (toml, key) in cases {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
    }
    let err = Config::from_toml("[telegram]\ntoken = 123456").unwrap_err().to_string();
    assert!(err.contains("telegram.token") && !err.contains("123456"), "{err}");
}

#[test]
fn durations_are_bounded_so_dates_fit() {
    let cases = [
        ("[retention]\nmax_age_days = 9223372036854775807", "retention.max_age_days"),
        ("[retention]\nmax_age_days = 36501", "retention.max_age_days"),
        ("[retry]\ninitial_delay_secs = 601\nmax_delay_secs = 900", "retry.initial_delay_secs"),
        ("[retry]\nmax_delay_secs = 18446744073709551615", "retry.max_delay_secs"),
        ("[telegram]\nupload_timeout_secs = 9999999999", "telegram.upload_timeout_secs"),
    ];
    for (toml, key) in cases {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
    }
    let cfg = Config::from_toml("[retention]\nmax_age_days = 36500\n[retry]\nmax_delay_secs = 600").unwrap();
    assert!(chrono::TimeDelta::try_days(cfg.retention.max_age_days).is_some());
}

#[test]
fn environment_values_are_text_and_parse_as_their_kind() {
    let env = |pairs: &[(&str, &str)]| {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let source = env_source(Some(map));
        let keys = env_keys(&source).unwrap();
        let raw = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
            .add_source(source)
            .build()
            .unwrap();
        Config::finish(raw, None, &keys, Given::default(), None)
    };
    let cfg = env(&[("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111,222"), ("LIFEBOAT__BACKUP__SOURCE_DIR", "2024")]).unwrap();
    assert_eq!(cfg.telegram.admin_ids, [111, 222]);
    assert_eq!(cfg.backup.source_dir, Path::new("2024"));
    assert_eq!(env(&[("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111")]).unwrap().telegram.admin_ids, [111]);
    for (k, v) in [
        ("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111,bob"),
        ("LIFEBOAT__BACKUP__COMPRESSION_LEVEL", "5.7"),
        ("LIFEBOAT__RETENTION__MAX_AGE_DAYS", "99999999999999999999"),
    ] {
        let err = env(&[(k, v)]).unwrap_err().to_string();
        let key = k.trim_start_matches("LIFEBOAT__").replace("__", ".").to_lowercase();
        assert!(err.contains(&key), "{k}={v} gave {err:?}");
    }
}

#[test]
fn source_and_output_folders_must_be_apart() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(&data, d.path().join("link")).unwrap();
    let cfg = |src: &Path, out: &Path| {
        Config::from_toml(&format!("[backup]\nsource_dir = {:?}\noutput_dir = {:?}", src, out))
    };
    for (src, out) in [
        (data.clone(), data.clone()),
        (data.clone(), data.join("backups")),
        (data.join("bot"), data.clone()),
        (data.clone(), d.path().join("link/../data")),
        (data.clone(), d.path().join("link/out")),
    ] {
        let err = cfg(&src, &out).unwrap_err().to_string();
        assert!(err.contains("backup.output_dir") && err.contains("backup.source_dir"), "{src:?} {out:?}: {err}");
    }
    cfg(&data, &d.path().join("backups")).unwrap();
    cfg(&data, &d.path().join("data-backups")).unwrap();
}

/// The example's placeholder ids are accepted while there is no token (the
/// example as shipped), refused once a token would send archives to them.
#[test]
fn the_example_placeholder_ids_are_refused_with_a_token() {
    let example = include_str!("../../../../config/example.toml");
    assert!(Config::from_toml(example).is_ok());
    let token = "token = \"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789\"";
    let with_token = example.replacen("token = \"\"", token, 1);
    let err = Config::from_toml(&with_token).unwrap_err().to_string();
    assert!(err.contains("telegram.admin_ids") && err.contains("placeholder"), "{err}");
    let own = format!("[telegram]\n{token}\nadmin_ids = [42]\nowner_id = 987654321\n");
    let err = Config::from_toml(&own).unwrap_err().to_string();
    assert!(err.contains("telegram.owner_id") && err.contains("@userinfobot"), "{err}");
    assert!(Config::from_toml(&format!("[telegram]\n{token}\nadmin_ids = [42]\nowner_id = 42\n")).is_ok());
}

#[test]
fn an_empty_or_wrong_token_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    for text in ["", "\n", "not a token"] {
        std::fs::write(&f, text).unwrap();
        let err = Config::from_toml(&format!("[telegram]\ntoken_file = {:?}", f)).unwrap_err().to_string();
        assert!(err.contains("telegram.token_file"), "{text:?}: {err}");
        assert!(!text.is_empty() || err.contains("empty"), "{err}");
    }
}

#[test]
fn the_discord_bot_section_reads_its_token_file_and_checks_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("discord.token");
    let token = "MTE4NzAwMDAwMDAwMDAwMDAwMQ.GfAk3d.signature_0123456789abcdef";
    std::fs::write(&f, format!("{token}\n")).unwrap();
    let section = |rest: &str| format!("[discord]\ntoken_file = {:?}\n{rest}", f.display().to_string());
    let cfg = Config::from_toml(&section("owner_id = 1187000000000000111\nadmin_ids = [1187000000000000222]")).unwrap();
    assert_eq!(cfg.bots.discord.token.expose(), token);
    assert!(
        cfg.bots.discord.is_owner(1_187_000_000_000_000_111) && !cfg.bots.discord.is_owner(1_187_000_000_000_000_222)
    );
    assert!(
        cfg.bots.discord.is_admin(1_187_000_000_000_000_222) && cfg.bots.discord.is_admin(1_187_000_000_000_000_111)
    );
    assert!(!cfg.bots.discord.is_admin(0) && !cfg.bots.discord.is_owner(0));
    assert!(!format!("{cfg:?}").contains("signature"), "the token never shows in Debug");
    assert_eq!(cfg.bots.discord.api_url.as_str(), "https://discord.com/api");

    for (bad, key) in [
        ("admin_ids = [0]", "discord.admin_ids"),
        ("admin_ids = [5, 5]", "discord.admin_ids"),
        ("admin_ids = [\"5\"]", "discord.admin_ids"),
        ("owner_id = -1", "discord.owner_id"),
        ("api_url = \"ftp://x\"", "discord.api_url"),
        ("color = 1", "color"),
    ] {
        let err = Config::from_toml(&section(bad)).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
    for text in ["", "not a token", "a.b"] {
        std::fs::write(&f, text).unwrap();
        let err = Config::from_toml(&section("")).unwrap_err().to_string();
        assert!(err.contains("discord.token_file") && !err.contains("signature"), "{text:?}: {err}");
    }
}

#[test]
fn an_unknown_section_is_refused_listing_the_bots_sections_too() {
    let err = Config::from_toml("[discrod]\nx = 1").unwrap_err().to_string();
    assert!(err.contains("unknown field `discrod`") && err.contains("`telegram`, `discord`, `retry`"), "{err}");
}

#[test]
fn database_names_may_not_be_journal_files() {
    for name in ["bot.db-wal", "bot.db-shm", "bot.db-journal", "manifest.json"] {
        let err = Config::from_toml(&format!("[backup]\ndatabases = [{name:?}]")).unwrap_err().to_string();
        assert!(err.contains("backup.databases"), "{name}: {err}");
    }
}

#[test]
fn token_never_in_debug() {
    let token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh";
    let cfg = Config::from_toml(&format!("[telegram]\ntoken = \"{token}\"")).unwrap();
    assert!(cfg.delivery_enabled());
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("ABCDEFGHIJ"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn token_file_is_read_when_token_empty() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, "42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh\n").unwrap();
    let cfg = Config::from_toml(&format!("[telegram]\ntoken_file = {:?}", f.display().to_string())).unwrap();
    assert_eq!(cfg.telegram.token.expose(), "42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh");
    let err = Config::from_toml("[telegram]\ntoken_file = \"/nonexistent/token\"").unwrap_err().to_string();
    assert!(err.contains("telegram.token_file"), "{err}");
}

#[test]
fn the_system_config_is_read_only_when_nothing_names_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("lifeboat.toml");
    let given = dir.path().join("given.toml");
    let env = dir.path().join("env.toml");
    // Not installed: built-in defaults.
    assert_eq!(pick_file(None, None, &system), None);
    std::fs::write(&system, "").unwrap();
    assert_eq!(pick_file(None, None, &system), Some((system.clone(), SYSTEM_CONFIG)));
    assert_eq!(pick_file(None, Some(env.clone()), &system), Some((env.clone(), CONFIG_ENV)));
    assert_eq!(pick_file(Some(&given), Some(env), &system), Some((given, "--config")));
}

#[test]
fn archives_are_split_only_for_telegram_or_a_limit_set_on_purpose() {
    let token = "[telegram]\ntoken = \"7000000001:AAHq3ZxV9kLmN0pRtYw2BcDeFgHiJkL7sUo\"\n";
    assert_eq!(Config::from_toml("").unwrap().split_bytes(), None, "nothing needs parts");
    assert_eq!(Config::from_toml(token).unwrap().split_bytes(), Some(50_000_000));
    assert_eq!(Config::from_toml("[telegram]\nmax_upload_mb = 2\n").unwrap().split_bytes(), Some(2_000_000));
}

#[test]
fn discord_and_email_secrets_come_from_files_and_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("hook");
    std::fs::write(&hook, "https://discord.com/api/webhooks/1/wh-secret-token\n").unwrap();
    let password = dir.path().join("smtp");
    std::fs::write(&password, "smtp-secret-pw\n").unwrap();
    let toml = format!(
        "[destinations.discord]\nwebhook_url_file = {hook:?}\n[destinations.email]\nsmtp_url = \"smtps://bk@mail.example.com:465\"\n\
         password_file = {password:?}\nfrom = \"Lifeboat <bk@example.com>\"\nto = [\"ops@example.com\"]\n"
    );
    let cfg = Config::from_toml(&toml).unwrap();
    assert_eq!(
        cfg.destinations.discord.webhook_url.as_ref().unwrap().expose().as_str(),
        "https://discord.com/api/webhooks/1/wh-secret-token"
    );
    assert_eq!(cfg.destinations.email.password.expose(), "smtp-secret-pw");
    assert_eq!(cfg.destinations.ids(), ["discord", "email"]);
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("wh-secret-token") && !shown.contains("smtp-secret-pw"), "{shown}");

    let bad = |toml: &str| Config::from_toml(toml).unwrap_err().to_string();
    std::fs::write(&hook, "wh-secret-token\n").unwrap();
    let e = bad(&format!("[destinations.discord]\nwebhook_url_file = {hook:?}\n"));
    assert!(e.contains("does not hold a webhook URL") && !e.contains("wh-secret-token"), "{e}");
    let e = bad(
        "[destinations.email]\nsmtp_url = \"smtps://bk:pw-in-url@mail.example.com\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
    );
    assert!(e.contains("password_file") && !e.contains("pw-in-url"), "{e}");
    let e = bad("[destinations.email]\nsmtp_url = \"smtps://mail.example.com\"\nfrom = \"a@b\"\nto = []\n");
    assert!(e.contains("destinations.email.to"), "{e}");
    let e = bad("[destinations.email]\nsmtp_url = \"http://mail.example.com\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n");
    assert!(e.contains("not an SMTP URL"), "{e}");
    let e = bad("[destinations.discord]\nmax_upload_mb = 0\n");
    assert!(e.contains("destinations.discord.max_upload_mb"), "{e}");
}

#[test]
fn the_backoff_makes_attempts_tries_and_no_wait_passes_the_ceiling() {
    let retry = RetryConfig { attempts: 8, initial_delay_secs: 3, max_delay_secs: 5 };
    let waits: Vec<_> = (0..50).flat_map(|_| retry.backoff().collect::<Vec<_>>()).collect();
    assert_eq!(waits.len(), 50 * 7, "attempts - 1 waits each time");
    assert!(waits.iter().all(|w| *w <= std::time::Duration::from_secs(5)), "{waits:?}");
    // Without the cap, jitter (up to the first delay) would pass the ceiling.
    assert!(waits.iter().any(|w| *w == std::time::Duration::from_secs(5)), "{waits:?}");
}

#[test]
fn every_external_deadline_has_a_default_and_refuses_zero_or_absurd_values() {
    let pg = "[[sources.postgres]]\nname = \"main\"\nurl = \"postgresql://u@127.0.0.1/db\"\n";
    let redis = "[[sources.redis]]\nname = \"cache\"\nurl = \"redis://127.0.0.1:6379\"\n";
    let s3 = "[[destinations.s3]]\nname = \"offsite\"\nbucket = \"b\"\naccess_key_id = \"k\"\n";
    let email = "[destinations.email]\nsmtp_url = \"smtp://127.0.0.1:25\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n";
    let cfg = Config::from_toml(&format!("{pg}{redis}{email}")).unwrap();
    assert_eq!(cfg.sources.postgres[0].timeout_secs, lifeboat_core::source::DEFAULT_TOOL_TIMEOUT_SECS);
    assert_eq!(cfg.sources.redis[0].timeout_secs, lifeboat_core::source::DEFAULT_TOOL_TIMEOUT_SECS);
    assert_eq!(cfg.destinations.email.timeout_secs, 120);
    let cases = [
        (format!("{pg}timeout_secs = 0\n"), "sources.postgres", "\"main\": timeout_secs is 0"),
        (format!("{redis}timeout_secs = 86401\n"), "sources.redis", "\"cache\": timeout_secs is 86401"),
        (format!("{s3}timeout_secs = 0\n"), "destinations.s3", "\"offsite\": timeout_secs is 0"),
        (format!("{email}timeout_secs = 0\n"), "destinations.email.timeout_secs", "is 0"),
    ];
    for (toml, key, said) in cases {
        let err = Config::from_toml(&toml).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(said), "{toml:?} gave {err:?}, expected {key}: {said}");
    }
}

/// A configuration naming every secret file there is, each one written in
/// `dir/secrets/` (mode 0644, other users may read them).
fn with_every_secret(dir: &Path) -> String {
    lifeboat_testkit::secrets::every_secret_file(&dir.join("secrets"))
}

/// The field names of every `…_file` path key declared in this crate's
/// source: a new secret file key cannot be added without this seeing it.
fn file_keys_in_source() -> std::collections::BTreeSet<String> {
    fn walk(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let field = line.trim().trim_start_matches("pub ");
                    if let Some((name, ty)) = field.split_once(':')
                        && name.ends_with("_file")
                        && ty.trim_end_matches(',').ends_with("PathBuf")
                    {
                        out.insert(name.to_string());
                    }
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

#[test]
fn every_secret_file_key_of_every_kind_is_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_toml(&with_every_secret(dir.path())).unwrap();
    let keys: Vec<&str> = cfg.secret_files().iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        [
            "telegram.token_file",
            "discord.token_file",
            "encryption.password_file",
            "encryption.identity_file",
            "sources.postgres.password_file",
            "sources.redis.password_file",
            "destinations.s3.secret_access_key_file",
            "destinations.discord.webhook_url_file",
            "destinations.email.password_file",
            "destinations.webhook.url_file",
        ]
    );
    let not_secret = ["metrics_file"];
    for field in file_keys_in_source() {
        assert!(
            not_secret.contains(&field.as_str()) || keys.iter().any(|k| k.ends_with(&format!(".{field}"))),
            "the config field `{field}` names a file but is not in Config::secret_files: list it there if it holds \
             a secret (or in not_secret here if it does not)"
        );
    }
    let excluded = cfg.source_setup().excluded;
    for s in cfg.secret_files() {
        assert!(excluded.contains(&s.path.canonicalize().unwrap()), "{} is not excluded", s.describe());
    }
}

#[test]
fn secret_files_other_users_can_read_are_warned_about_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_toml(&with_every_secret(dir.path())).unwrap();
    let warnings = cfg.exposed_secret_files();
    assert_eq!(warnings.len(), 10, "{warnings:#?}");
    let pw = dir.path().join("secrets/zip.pw");
    let w = warnings.iter().find(|w| w.starts_with("encryption.password_file")).unwrap();
    assert!(w.contains(&pw.display().to_string()) && w.contains("0644") && w.contains("chmod o-rwx"), "{w}");
    assert!(!w.contains("zip-secret"), "{w}");
    for f in std::fs::read_dir(dir.path().join("secrets")).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    assert!(cfg.exposed_secret_files().is_empty());
}

#[test]
fn a_password_in_a_server_url_query_is_refused_without_echo() {
    for param in ["password", "passfile", "sslpassword"] {
        let toml = format!(
            "[[sources.postgres]]\nname = \"pg\"\nurl = \"postgresql://backup@127.0.0.1/bot?sslmode=require&{param}=hunter2\"\n"
        );
        let err = Config::from_toml(&toml).unwrap_err().to_string();
        assert!(err.contains("sources.postgres") && err.contains(param) && err.contains("password_file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let ok = "[[sources.postgres]]\nname = \"pg\"\nurl = \"postgresql://backup@127.0.0.1/bot?sslmode=require\"\n";
    Config::from_toml(ok).unwrap();
}

#[test]
fn an_smtp_url_the_mailer_cannot_use_is_refused_at_load() {
    let email = |url: &str| {
        format!("[destinations.email]\nsmtp_url = {url:?}\nfrom = \"backup@example.com\"\nto = [\"ops@example.com\"]\n")
    };
    for url in ["smtp://backup@smtp.example.com:25?tls=none", "smtp://backup@smtp.example.com?tls=REQUIRED"] {
        let err = Config::from_toml(&email(url)).unwrap_err().to_string();
        assert!(err.contains("destinations.email.smtp_url") && err.contains("tls="), "{url}: {err}");
    }
    for url in ["smtps://backup@smtp.example.com:465", "smtp://backup@smtp.example.com:587?tls=required"] {
        Config::from_toml(&email(url)).unwrap();
    }
    let toml = email("smtps://smtp.example.com").replace("backup@example.com\"", "backup at example.com\"");
    let err = Config::from_toml(&toml).unwrap_err().to_string();
    assert!(err.contains("destinations.email.from"), "{err}");
}

#[test]
fn an_unknown_encryption_mode_lists_the_allowed_values() {
    for mode in ["AGE", "aes", "Zip-Aes"] {
        let err = Config::from_toml(&format!("[encryption]\nmode = {mode:?}\n")).unwrap_err().to_string();
        assert!(
            err.contains(&format!("encryption.mode`: {mode:?} is not one of \"none\", \"zip-aes\", \"age\"")),
            "{err}"
        );
    }
}

#[test]
fn more_age_recipients_than_a_header_may_hold_are_refused() {
    let key = || age::x25519::Identity::generate().to_public().to_string();
    let list = |n: usize| (0..n).map(|_| format!("{:?}", key())).collect::<Vec<_>>().join(", ");
    let toml = |n: usize| format!("[encryption]\nmode = \"age\"\nrecipients = [{}]", list(n));
    assert!(Config::from_toml(&toml(lifeboat_core::seal::MAX_RECIPIENTS)).is_ok());
    let err = Config::from_toml(&toml(lifeboat_core::seal::MAX_RECIPIENTS + 1)).unwrap_err().to_string();
    assert!(err.contains("encryption.recipients") && err.contains("at most 32"), "{err}");
}

#[test]
fn continuous_is_off_by_default_and_its_values_are_bounded() {
    let cfg = Config::from_toml("").unwrap();
    assert!(!cfg.continuous.enabled);
    assert_eq!((cfg.continuous.interval_secs, cfg.continuous.keep_days), (10, 7));
    let on = Config::from_toml("[continuous]\nenabled = true\ninterval_secs = 1\nkeep_days = 30").unwrap();
    assert!(on.continuous.enabled);
    for (toml, key) in [
        ("[continuous]\ninterval_secs = 0", "continuous.interval_secs"),
        ("[continuous]\ninterval_secs = 3601", "continuous.interval_secs"),
        ("[continuous]\nkeep_days = 0", "continuous.keep_days"),
        ("[continuous]\nenabled = true\n[encryption]\nmode = \"zip-aes\"", "continuous.enabled"),
    ] {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(key), "{toml}: {err}");
    }
    let err = Config::from_toml("[continuous]\nintervall_secs = 5").unwrap_err().to_string();
    assert!(err.contains("intervall_secs"), "{err}");
}

#[test]
fn a_webhook_needs_a_known_format_a_url_file_and_a_name_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u");
    std::fs::write(&file, "https://ntfy.sh/alerts\n").unwrap();
    let entry = |name: &str, url_file: &str, format: &str| {
        format!("[[destinations.webhook]]\nname = {name:?}\nurl_file = {url_file:?}\nformat = {format:?}\n")
    };
    let f = file.display().to_string();
    let err = |toml: &str| Config::from_toml(toml).unwrap_err().to_string();
    let e = err(&entry("ops", &f, "xml"));
    assert!(
        e.contains("destinations.webhook") && e.contains("\"xml\" is not one of \"json\", \"ntfy\", \"slack\""),
        "{e}"
    );
    let e = err(&entry("ops", "", "json"));
    assert!(e.contains("url_file is empty"), "{e}");
    let e = err(&format!("{}{}", entry("ops", &f, "json"), entry("ops", &f, "slack")));
    assert!(e.contains("used twice"), "{e}");
    std::fs::write(&file, "not a url\n").unwrap();
    let e = err(&entry("ops", &f, "json"));
    assert!(e.contains("destinations.webhook.url_file") && e.contains("does not hold an http(s) URL"), "{e}");
    assert!(!e.contains("not a url"), "the file's text is a secret: {e}");
    let e = err(&format!("{}extra = 1\n", entry("ops", &f, "json")));
    assert!(e.contains("extra"), "{e}");
}
