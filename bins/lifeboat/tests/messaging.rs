//! Discord and email as destinations: the archive in parts through a fake
//! Discord webhook that answers, rate-limits and refuses as Discord does;
//! mail through a real SMTP server (aiosmtpd) on loopback, over STARTTLS
//! and implicit TLS; alerts to both; secrets in no output and not in the
//! state database.

mod common;

use std::path::Path;

use lifeboat_testkit::smtp::{SmtpMode, SmtpServer};
use lifeboat_testkit::{DiscordFault, FakeDiscord};

/// A bot with `app.db` of about `mb` MB of random bytes (stored, not
/// compressed) and `destinations` TOML; three attempts per delivery.
struct Env(common::Sandbox);

impl Env {
    fn new(mb: u64, destinations: &str) -> Env {
        let env = Env(common::Sandbox::with_random_db(mb));
        env.write_config(destinations);
        env
    }

    fn write_config(&self, destinations: &str) {
        self.0.write_config_attempts(&["app.db"], 3, destinations);
    }

    fn output(&self, args: &[&str]) -> String {
        let out = self.cmd(args).assert().get_output().clone();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    fn state_bytes(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.path("out/.lifeboat/state.db")).unwrap()).into_owned()
    }
}

impl std::ops::Deref for Env {
    type Target = common::Sandbox;

    fn deref(&self) -> &common::Sandbox {
        &self.0
    }
}

impl std::ops::DerefMut for Env {
    fn deref_mut(&mut self) -> &mut common::Sandbox {
        &mut self.0
    }
}

use common::file_name as name;

fn discord_config(env: &Env, url: &str, mb: u64) -> String {
    common::discord_destination(env.dir.path(), url, mb)
}

#[test]
fn discord_gets_the_archive_in_parts_through_rate_limits_and_the_alerts_ring() {
    let discord = FakeDiscord::start();
    let env = Env::new(6, "");
    env.write_config(&discord_config(&env, &discord.webhook_url(), 1));
    // One 429 with retry_after and one 502 on the way: both sat out.
    discord.fail_next([DiscordFault::RateLimited(0.3), DiscordFault::BadGateway]);
    let (archive, said) = env.cycle(0);
    assert!(said.contains("sent to discord"), "{said}");
    let local = std::fs::read(&archive).unwrap();
    let posted = discord.posted();
    let parts = local.len().div_ceil(1_000_000);
    assert!(parts >= 6, "{} bytes", local.len());
    assert_eq!(posted.len(), parts, "one message per part");
    let mut joined = Vec::new();
    for (i, p) in posted.iter().enumerate() {
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].0, format!("{}.{:03}", name(&archive), i + 1));
        assert!(p.content.contains(&format!("Part {}/{parts}", i + 1)), "{}", p.content);
        assert_eq!(p.flags, 4096, "routine archives arrive without a ping");
        joined.extend_from_slice(&p.files[0].1);
    }
    assert!(joined == local, "the parts joined are the archive");
    // More than 5 posts in 2 s: Lifeboat waited for the bucket to reset
    // rather than running into Discord's limit.
    assert_eq!(discord.rate_limited(), 1, "only the queued 429");
    let status = env.output(&["status"]);
    assert!(status.contains(&format!("discord: {} sent", name(&archive))), "{status}");
    let list = env.output(&["list"]);
    assert!(list.contains(" discord: delivered"), "{list}");

    // A partial backup alerts, and the alert rings.
    std::fs::write(
        &env.config,
        std::fs::read_to_string(&env.config).unwrap().replace("[\"app.db\"]", "[\"app.db\", \"gone.db\"]"),
    )
    .unwrap();
    env.cycle(3);
    let alert = discord.posted().into_iter().rfind(|p| p.files.is_empty()).expect("an alert");
    assert!(alert.content.contains("gone.db"), "{}", alert.content);
    assert_eq!(alert.flags, 0);
    let all = format!("{said}{status}");
    assert!(!all.contains(&discord.webhook_url()) && !env.state_bytes().contains("wh-token-"));
}

/// A Discord channel configured after the full archive was made gets
/// that base before the first differential it receives.
#[test]
fn a_destination_added_later_gets_the_base_before_a_differential() {
    let discord = FakeDiscord::start();
    let env = Env::new(1, "");
    const FULL_CRON: &str = "[schedule]\nfull_cron = \"0 0 1 1 *\"\n";
    env.write_config(FULL_CRON);
    let (full, said) = env.cycle(0);
    assert!(!name(&full).contains(".diff."), "{said}");

    let c = rusqlite::Connection::open(env.path("data/app.db")).unwrap();
    c.execute("INSERT INTO blobs (b) VALUES (randomblob(100))", []).unwrap();
    drop(c);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write_config(&format!("{FULL_CRON}{}", discord_config(&env, &discord.webhook_url(), 10)));
    let (diff, said) = env.cycle(0);
    assert!(name(&diff).ends_with(".diff.zip"), "{said}");
    let sent: Vec<String> = discord.posted().into_iter().flat_map(|p| p.files.into_iter().map(|(n, _)| n)).collect();
    assert_eq!(sent, vec![name(&full), name(&diff)], "the base first, then the differential");
    let list = env.output(&["list"]);
    assert_eq!(list.matches(" discord: delivered").count(), 2, "{list}");
}

#[test]
fn discord_refusals_are_named_kept_apart_and_resumed() {
    let discord = FakeDiscord::with_max_file(600_000);
    let env = Env::new(2, "");
    env.write_config(&discord_config(&env, &discord.webhook_url(), 1));
    // 413: the configured part size is over what the server takes.
    let (archive, said) = env.cycle(3);
    assert!(said.contains("discord refused it, not tried again"), "{said}");
    assert!(said.contains("max_upload_mb"), "{said}");
    assert!(archive.is_file());
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // A wrong token: refused for good, and the URL is never shown.
    env.write_config(&discord_config(&env, &discord.wrong_token_url(), 1));
    let (_, said) = env.cycle(3);
    assert!(said.contains("Invalid Webhook Token (code 50027)"), "{said}");
    assert!(!said.contains("not-the-token"), "{said}");
    let diag = env.output(&["diagnose"]);
    assert!(diag.contains("[error] discord") && !diag.contains("not-the-token"), "{diag}");

    // A long rate limit in the middle of a split archive: the first part
    // is kept, the rest follows next cycle, nothing is posted twice.
    let discord = FakeDiscord::start();
    env.write_config(&discord_config(&env, &discord.webhook_url(), 1));
    discord.pass_next(1);
    // Longer than a cycle waits: the row stays pending, one part confirmed.
    discord.fail_next([DiscordFault::RateLimited(120.0)]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (third, said) = env.cycle(3);
    assert!(said.contains("not yet sent to discord, retried next cycle"), "{said}");
    assert!(said.contains("rate limited by Discord, retry after 120.0 s"), "{said}");
    // One part, and the incident this first failed cycle opens, which the
    // cycle's own look at its end announces (no daemon watches here).
    let posted = discord.posted();
    let (parts_posted, messages): (Vec<_>, Vec<_>) = posted.iter().partition(|p| !p.files.is_empty());
    assert_eq!(parts_posted.len(), 1, "{posted:?}");
    assert_eq!(messages.len(), 1, "{posted:?}");
    assert!(messages[0].content.contains("Archives are not reaching their destinations"), "{}", messages[0].content);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (fourth, said) = env.cycle(0);
    assert!(said.contains("sent to discord"), "{said}");
    let recovered = discord.posted().into_iter().filter(|p| p.content.contains("pending archives are delivered"));
    assert_eq!(recovered.count(), 1, "the incident clears once");
    let names: Vec<String> = discord.posted().iter().flat_map(|p| p.files.iter().map(|f| f.0.clone())).collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no part posted twice: {names:?}");
    let parts = |p: &Path| std::fs::metadata(p).unwrap().len().div_ceil(1_000_000) as usize;
    assert_eq!(names.len(), parts(&third) + parts(&fourth), "{names:?}");
    let joined: Vec<u8> = discord
        .posted()
        .iter()
        .flat_map(|p| p.files.iter())
        .filter(|f| f.0.starts_with(&name(&third)))
        .flat_map(|f| f.1.clone())
        .collect();
    assert!(joined == std::fs::read(&third).unwrap(), "the resumed archive joins whole");
}

fn email_config(env: &Env, smtp: &SmtpServer, mb: u64) -> String {
    common::email_destination(env.dir.path(), smtp, mb)
}

#[test]
fn email_over_starttls_carries_the_archive_byte_for_byte_and_the_alerts() {
    let smtp = SmtpServer::start(SmtpMode::StartTls);
    let mut env = Env::new(1, "");
    env.cert = smtp.certificate();
    env.write_config(&email_config(&env, &smtp, 20));
    let (archive, said) = env.cycle(0);
    assert!(said.contains("sent to email"), "{said}");
    let mail = smtp.wait_for(1);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_tos, ["ops@example.test", "owner@example.test"]);
    assert!(mail[0].subject.contains(&name(&archive)), "{}", mail[0].subject);
    assert_eq!(mail[0].attachments.len(), 1);
    assert_eq!(mail[0].attachments[0].0, name(&archive));
    assert!(mail[0].attachments[0].1 == std::fs::read(&archive).unwrap(), "the attachment is byte-identical");
    assert!(mail[0].body.contains("app.db"), "{}", mail[0].body);
    let diag = env.output(&["diagnose"]);
    assert!(diag.contains("[ok   ] email: relay answers"), "{diag}");

    // Over max_attachment_mb: a message saying where the archive is.
    let mut grown = Env::new(3, "");
    grown.cert = smtp.certificate();
    grown.write_config(&email_config(&grown, &smtp, 1));
    let (big, said) = grown.cycle(0);
    assert!(said.contains("sent to email"), "{said}");
    let mail = smtp.wait_for(2);
    let last = mail.last().unwrap();
    assert!(last.attachments.is_empty());
    assert!(
        last.body.contains("not attached") && last.body.contains(&grown.path("out").display().to_string()),
        "{}",
        last.body
    );
    assert!(big.is_file());

    // A partial backup is mailed as an alert.
    std::fs::write(
        &env.config,
        std::fs::read_to_string(&env.config).unwrap().replace("[\"app.db\"]", "[\"app.db\", \"gone.db\"]"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.cycle(3);
    let mail = smtp.wait_for(4);
    assert!(mail.iter().any(|m| m.subject.starts_with("Lifeboat:") && m.body.contains("gone.db")), "{mail:?}");
    assert!(!env.state_bytes().contains(&smtp.password));
}

#[test]
fn email_auth_failure_is_permanent_and_a_refused_connection_is_retried() {
    let smtp = SmtpServer::start(SmtpMode::ImplicitTls);
    let mut env = Env::new(1, "");
    env.cert = smtp.certificate();
    env.write_config(&email_config(&env, &smtp, 20));
    std::fs::write(env.path("smtp-password"), "not-the-password-7781\n").unwrap();
    let (_, said) = env.cycle(3);
    assert!(said.contains("email refused it, not tried again"), "{said}");
    assert!(said.contains("535") && said.contains("password_file"), "{said}");
    assert!(!said.contains("not-the-password-7781") && !said.contains(&smtp.password), "{said}");
    assert!(!env.state_bytes().contains("not-the-password-7781"));
    let diag = env.output(&["diagnose"]);
    assert!(diag.contains("[error] email"), "{diag}");

    // Nobody listening: tried again next cycle, then caught up.
    let port = lifeboat_testkit::servers::free_port();
    let down = email_config(&env, &smtp, 20).replace(&format!(":{}", smtp.port), &format!(":{port}"));
    env.write_config(&down);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (owed, said) = env.cycle(3);
    assert!(said.contains("not yet sent to email, retried next cycle"), "{said}");
    env.write_config(&email_config(&env, &smtp, 20));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.cycle(0);
    let mail = smtp.wait_for(2);
    assert!(mail.iter().any(|m| m.attachments.iter().any(|a| a.0 == name(&owed))), "{mail:?}");
}

#[test]
fn a_relay_that_never_speaks_fails_the_email_within_its_timeout() {
    let silent = lifeboat_testkit::servers::Silent::start();
    let env = Env::new(1, "");
    env.write_config(&format!(
        "[destinations.email]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"Lifeboat <backup@example.test>\"\n\
         to = [\"ops@example.test\"]\ntimeout_secs = 2\n",
        silent.port
    ));
    let started = std::time::Instant::now();
    let out = env
        .cmd(&["backup", "--deliver"])
        .env("LIFEBOAT__RETRY__ATTEMPTS", "1")
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(3)
        .get_output()
        .clone();
    let took = started.elapsed();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(took < std::time::Duration::from_secs(30), "the cycle took {took:?}: {said}");
    assert!(said.contains("not yet sent to email"), "{said}");
    assert!(said.contains("did not answer within 2 s") && said.contains("destinations.email.timeout_secs"), "{said}");
}

#[test]
fn diagnose_asks_discord_whether_it_takes_the_bots_token() {
    let fake = lifeboat_testkit::FakeDiscordBot::start();
    let env = Env::new(1, "");
    let config = |token: &str| {
        let file = env.secret("discord.token", token);
        format!("[discord]\ntoken_file = {:?}\napi_url = {:?}\n", file.display().to_string(), fake.api_url())
    };
    env.write_config(&config(lifeboat_testkit::fake_discord_bot::TOKEN));
    let diag = env.output(&["diagnose"]);
    assert!(diag.contains("[ok   ] discord-bot: bot \"Lifeboat\" answers"), "{diag}");

    env.write_config(&config("MTE4NzAwMDAwMDAwMDAwMDAwMQ.GfAk3d.a-token-discord-does-not-know_01234"));
    let diag = env.output(&["diagnose"]);
    assert!(diag.contains("[error] discord-bot") && diag.contains("discord.token_file"), "{diag}");
    assert!(!diag.contains("does-not-know"), "the token leaked: {diag}");
}
