//! `lifeboat diagnose`: what is wrong with the live setup, and what to do.

use anyhow::Result;
use std::time::Duration;

use chrono::Utc;
use lifeboat_core::diagnose::{self, Finding, Severity};
use lifeboat_core::{Config, exit};

use crate::JsonArg;
use crate::ui::Progress;

use super::{exit_on_signal_removing_scratch, yield_to_signal_handler};

pub(super) fn diagnose(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let bar = Progress::new(!a.json);
    bar.spin("checking the databases on snapshots");
    // Diagnose cannot stop between steps, and its snapshot folders hold
    // copies of the live databases: on a signal, remove ours and exit.
    exit_on_signal_removing_scratch(diagnose::scratch_prefix(), "diagnose");
    let mut d = diagnose::run(cfg, Utc::now());
    yield_to_signal_handler();
    answer_telegram(cfg, &mut d.findings)?;
    d.findings.extend(check_stores(cfg)?);
    d.findings.extend(check_messengers(cfg)?);
    d.findings.extend(check_ping_url(cfg)?);
    bar.clear();
    if a.json {
        crate::json::print(&crate::json::diagnose(&d))?;
    } else {
        for f in &d.findings {
            println!("[{:<5}] {}: {}", f.level.as_str(), f.subject, f.message);
            if let Some(action) = &f.action {
                println!("        -> {action}");
            }
        }
        let (w, e) = d.findings.iter().fold((0, 0), |(w, e), f| match f.level {
            Severity::Warn => (w + 1, e),
            Severity::Error => (w, e + 1),
            Severity::Ok => (w, e),
        });
        println!("{e} error(s), {w} warning(s)");
    }
    Ok(if d.has_errors() { exit::FAILURE } else { exit::SUCCESS })
}

/// How long diagnose waits for one outside service to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// With a token: asks the Bot API who the bot is (`getMe`), so a token
/// that is configured but revoked, or an API this server cannot reach, is
/// an error rather than "token configured". The answer takes the place of
/// the settings' own finding.
fn answer_telegram(cfg: &Config, findings: &mut Vec<Finding>) -> Result<()> {
    if !cfg.delivery_enabled() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let probed = match lifeboat_telegram::Telegram::from_config(cfg) {
        Some(tg) => rt.block_on(tg.probe(PROBE_TIMEOUT)),
        None => Err(lifeboat_telegram::SendError::transient("cannot set up an HTTP client for Telegram")),
    };
    let host = cfg.telegram.api_url.host_str().unwrap_or("the Bot API");
    let finding = match probed {
        Ok(message) => Finding { level: Severity::Ok, subject: "telegram".into(), message, action: None },
        Err(e) => Finding {
            level: Severity::Error,
            subject: "telegram".into(),
            message: format!("the Bot API does not answer as it should: {e}"),
            action: Some(if e.kind == lifeboat_telegram::FailureKind::BadToken {
                "put the bot's current token from @BotFather in telegram.token_file (or telegram.token); archives wait \
                 in the outbox meanwhile"
                    .to_string()
            } else {
                format!(
                    "check that this server reaches {host} (firewall, DNS, proxy) and that telegram.api_url is right; \
                     archives wait in the outbox and are delivered once it answers"
                )
            }),
        },
    };
    match findings.iter_mut().find(|f| f.subject == "telegram" && f.level == Severity::Ok) {
        Some(configured) => *configured = finding,
        None => findings.push(finding),
    }
    Ok(())
}

/// `monitoring.ping_url`: its host resolves and takes a connection. Nothing
/// is requested (any request would count as a ping), and the URL is not
/// shown: its path is the monitor's secret.
fn check_ping_url(cfg: &Config) -> Result<Option<Finding>> {
    let Some(url) = &cfg.monitoring.ping_url else { return Ok(None) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let subject = "monitoring.ping_url";
    Ok(Some(match rt.block_on(lifeboat_messaging::webhook::connects(url, PROBE_TIMEOUT)) {
        Ok(said) => Finding::ok(subject, format!("the monitor's host: {said} (nothing was pinged)")),
        Err(e) => Finding::error(
            subject,
            e.to_string(),
            "check the URL's host and this server's outbound network (firewall, DNS, proxy); until it answers, the \
             monitor hears nothing and pages you for a missing ping",
        ),
    }))
}

/// Each `[[destinations.s3]]`: the bucket answers these keys, and the
/// newest archive is stored there.
fn check_stores(cfg: &Config) -> Result<Vec<Finding>> {
    if cfg.destinations.s3.is_empty() {
        return Ok(Vec::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let newest = newest_to_store(cfg);
    let mut findings = Vec::new();
    for s3 in &cfg.destinations.s3 {
        let subject = s3.id().to_string();
        let listed = rt.block_on(async {
            let store = lifeboat_s3::Store::open(s3, &cfg.retry)?;
            store.list().await
        });
        let finding = match listed {
            Err(e) => Finding {
                level: Severity::Error,
                subject,
                message: format!("bucket {} at {}: {e}", s3.bucket, s3.endpoint_text().unwrap_or("AWS")),
                action: Some("check endpoint, bucket, access_key_id and secret_access_key_file; archives wait in the outbox meanwhile".into()),
            },
            Ok(remote) => match &newest {
                Some(n) if !remote.iter().any(|r| r.name == n.name) => Finding {
                    level: Severity::Warn,
                    subject,
                    message: format!("reachable, {} archive(s); the newest, {}, is not there yet", remote.len(), n.name),
                    action: Some("the next cycle uploads it; `lifeboat status` shows the last error".into()),
                },
                _ => Finding {
                    level: Severity::Ok,
                    subject,
                    message: format!("reachable, {} archive(s) under {:?}", remote.len(), s3.prefix),
                    action: None,
                },
            },
        };
        findings.push(finding);
    }
    Ok(findings)
}

/// The newest archive a cycle sends off-site. A live restore's safety
/// snapshot (`pre-restore`) is kept on this server only: no cycle queues
/// it, so it is never reported as owed to a bucket.
fn newest_to_store(cfg: &Config) -> Option<lifeboat_core::catalog::StoredArchive> {
    let state = super::existing_state(cfg).ok().flatten();
    lifeboat_core::catalog::list(&cfg.backup.output_dir).ok()?.into_iter().find(|a| {
        lifeboat_core::verify::known_manifest(a, &cfg.encryption.keys, state.as_ref())
            .map_or(true, |m| m.trigger != lifeboat_core::Trigger::PreRestore)
    })
}

/// `[destinations.discord]`, `[destinations.email]`, each
/// `[[destinations.webhook]]` and the Discord bot: the Discord webhook
/// exists, the relay answers and takes the login, each webhook's host
/// answers, Discord takes the bot's token. Nothing is posted or mailed.
fn check_messengers(cfg: &Config) -> Result<Vec<Finding>> {
    let d = &cfg.destinations;
    let bot = !cfg.discord.token.is_empty();
    if !d.discord.enabled() && !d.email.enabled() && d.webhook.is_empty() && !bot {
        return Ok(Vec::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut findings = Vec::new();
    fn finding(subject: &str, probed: Result<String, impl std::fmt::Display>, action: &str) -> Finding {
        match probed {
            Ok(message) => Finding { level: Severity::Ok, subject: subject.into(), message, action: None },
            Err(e) => Finding {
                level: Severity::Error,
                subject: subject.into(),
                message: e.to_string(),
                action: Some(action.into()),
            },
        }
    }
    if d.discord.enabled() {
        let probed = match lifeboat_messaging::DiscordDestination::from_config(cfg) {
            Some(discord) => rt.block_on(discord.probe()).map_err(|e| e.to_string()),
            None => Err("cannot set up HTTP".into()),
        };
        findings.push(finding(
            "discord",
            probed,
            "put the channel's current webhook URL in destinations.discord.webhook_url_file; archives wait in the outbox meanwhile",
        ));
    }
    if bot {
        findings.push(finding(
            "discord-bot",
            rt.block_on(lifeboat_messaging::discord_dm::probe_bot(cfg)),
            "put the bot's current token (Developer Portal → Bot → Reset Token) in discord.token_file; \
             the owner's DMs and lifeboat-discord need it",
        ));
    }
    if d.email.enabled() {
        let probed = match lifeboat_messaging::EmailDestination::open(cfg) {
            Ok(email) => rt.block_on(email.probe()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        findings.push(finding(
            "email",
            probed,
            "check smtp_url (host, port, smtps:// or ?tls=required) and destinations.email.password_file; mail waits in the outbox meanwhile",
        ));
    }
    for webhook in lifeboat_messaging::WebhookDestination::from_config(cfg) {
        let probed = rt.block_on(webhook.probe(PROBE_TIMEOUT));
        findings.push(finding(
            &webhook.id().to_string(),
            probed,
            "check the URL in its url_file and this server's outbound network (firewall, DNS, proxy); alerts reach \
             the other destinations meanwhile",
        ));
    }
    Ok(findings)
}
