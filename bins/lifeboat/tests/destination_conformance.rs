//! One suite every kind of destination passes, through `lifeboat backup
//! --deliver` (the scheduler's cycle) and the config file: an archive
//! arrives whole; a failure in the middle of a delivery is owed and the
//! next cycle completes it without sending again what arrived; retention
//! retiring an archive removes it where the kind can; an alert reaches every
//! kind that carries text. A kind that carries alerts only (a webhook) gets
//! the alert, and a failure there changes no cycle's result.
//!
//! Telegram is the fake Bot API, S3 a real SeaweedFS server, Discord the
//! fake webhook, email a real SMTP server, a webhook an HTTP recorder, each
//! on loopback, one per test.
//! The kinds are listed in [`DestinationKind`] (the product has no such
//! enum: Telegram is `[telegram]`, the others `[destinations.*]`); a new
//! kind is added there, and `the_suite_covers_every_kind` fails until it is.

mod common;

use std::path::PathBuf;

use common::{Sandbox, file_name, next_second};
use lifeboat_testkit::fake_telegram::{FakeTelegram, Fault};
use lifeboat_testkit::servers::SeaweedFs;
use lifeboat_testkit::smtp::{SmtpMode, SmtpServer};
use lifeboat_testkit::{DiscordFault, FakeDiscord, HttpRecorder};

/// Every kind of destination. A new kind is added here, and gets its
/// fixture in [`fixture`] and its test in `suite!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DestinationKind {
    Telegram,
    S3,
    Discord,
    Email,
    Webhook,
}

/// How a kind's archives that were owed are caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatchUp {
    /// Every archive owed is completed.
    EveryArchive,
    /// Only the newest archive is sent: an admin after an outage needs the
    /// latest, not every one missed (the older one is superseded).
    NewestOnly,
}

/// What a kind can do, which says what the suite expects of it.
struct Traits {
    /// Archives go there (a webhook carries alerts only).
    carries_archives: bool,
    /// Sends an archive over its size limit as parts, in order.
    parts: bool,
    catch_up: CatchUp,
    /// Removes what retention retired (the object in a bucket).
    retires: bool,
    /// Alerts can go there.
    carries_text: bool,
}

/// One kind of destination, its server running.
trait DestinationFixture {
    fn traits(&self) -> Traits;
    /// The TOML configuring it in `sb`.
    fn config(&self, sb: &Sandbox) -> String;
    /// Each file that arrived (an archive, or one part), and its bytes, in
    /// the order they arrived.
    fn received(&self) -> Vec<(String, Vec<u8>)>;
    /// The messages that arrived without an archive (alerts), as text.
    fn alerts(&self) -> Vec<String>;
    /// The next delivery fails in the middle: the server answers an
    /// error (after the first part, where there are parts) or is unreachable.
    fn interrupt(&mut self);
    /// Undoes [`DestinationFixture::interrupt`].
    fn heal(&mut self);
}

/// The fixture of `kind`, its server started. Exhaustive on purpose.
fn fixture(kind: DestinationKind, sb: &mut Sandbox) -> Box<dyn DestinationFixture> {
    match kind {
        DestinationKind::Telegram => Box::new(TelegramFixture { fake: FakeTelegram::start_blocking() }),
        DestinationKind::S3 => Box::new(S3Fixture { s3: SeaweedFs::start() }),
        DestinationKind::Discord => Box::new(DiscordFixture { fake: FakeDiscord::start() }),
        DestinationKind::Email => {
            let smtp = SmtpServer::start(SmtpMode::StartTls);
            sb.cert = smtp.certificate();
            Box::new(EmailFixture { smtp, down: None })
        }
        DestinationKind::Webhook => Box::new(WebhookFixture { server: HttpRecorder::start() }),
    }
}

/// One test per kind, and the list of kinds they cover.
macro_rules! suite {
    ($($test:ident => $kind:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                conformance($kind);
            }
        )*
        const COVERED: &[DestinationKind] = &[$($kind),*];
    };
}

suite! {
    telegram_destination_conforms => DestinationKind::Telegram,
    s3_destination_conforms => DestinationKind::S3,
    discord_destination_conforms => DestinationKind::Discord,
    email_destination_conforms => DestinationKind::Email,
    webhook_destination_conforms => DestinationKind::Webhook,
}

/// The config section of each kind: `[telegram]`, `[destinations.NAME]`.
fn section(kind: DestinationKind) -> &'static str {
    match kind {
        DestinationKind::Telegram => "telegram",
        DestinationKind::S3 => "destinations.s3",
        DestinationKind::Discord => "destinations.discord",
        DestinationKind::Email => "destinations.email",
        DestinationKind::Webhook => "destinations.webhook",
    }
}

/// The `[destinations.*]` kinds the config accepts, as its refusal of an
/// unknown one lists them.
fn configurable_kinds() -> Vec<String> {
    let sb = Sandbox::new();
    sb.write_config(&[], "[destinations.no_such_kind]\nx = 1\n");
    let (_, said) = sb.run(&["status"], 2);
    let (_, listed) = said.split_once("expected one of").unwrap_or_else(|| panic!("the refusal changed: {said}"));
    // The names are the quoted words up to the end of the list: `s3`, `discord`, …
    let listed = listed.split(" for key").next().unwrap_or_default();
    listed.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_suite_covers_every_kind() {
    let sections: Vec<&str> = COVERED.iter().map(|k| section(*k)).collect();
    assert!(sections.contains(&"telegram"), "{sections:?}");
    let configurable = configurable_kinds();
    assert!(configurable.len() >= 3, "{configurable:?}");
    for kind in configurable {
        let section = format!("destinations.{kind}");
        assert!(
            sections.contains(&section.as_str()),
            "the suite does not run over [{section}]: add it to DestinationKind"
        );
    }
}

/// What one cycle made: the archive's name and its bytes (its parts
/// joined when it is split).
struct Made {
    name: String,
    bytes: Vec<u8>,
}

/// One `backup --deliver` expecting exit `code`.
fn cycle(sb: &Sandbox, code: i32) -> (Made, String) {
    let out = sb.cmd(&["backup", "--deliver"]).assert().code(code).get_output().clone();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<PathBuf> = stdout.lines().map(|l| PathBuf::from(l.trim())).collect();
    let said = stdout.clone() + &String::from_utf8_lossy(&out.stderr);
    assert!(!files.is_empty(), "no archive: {said}");
    let name = archive_of(&file_name(&files[0])).to_string();
    let bytes = files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect();
    (Made { name, bytes }, said)
}

/// The archive a file belongs to: `X.zip` for `X.zip` and `X.zip.001`.
fn archive_of(file: &str) -> &str {
    match file.rsplit_once('.') {
        Some((archive, part)) if part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit()) => archive,
        _ => file,
    }
}

/// The bytes of `archive` as they arrived (its parts joined in order), or
/// None when nothing of it did.
fn arrived(dest: &dyn DestinationFixture, archive: &str) -> Option<Vec<u8>> {
    let mut files: Vec<(String, Vec<u8>)> =
        dest.received().into_iter().filter(|(f, _)| archive_of(f) == archive).collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    (!files.is_empty()).then(|| files.into_iter().flat_map(|(_, b)| b).collect())
}

fn assert_whole(kind: DestinationKind, dest: &dyn DestinationFixture, made: &Made, what: &str) {
    let got = arrived(dest, &made.name).unwrap_or_else(|| panic!("{kind:?}: {what}: {} never arrived", made.name));
    assert!(
        got == made.bytes,
        "{kind:?}: {what}: {} arrived with other bytes ({} of {})",
        made.name,
        got.len(),
        made.bytes.len()
    );
}

/// The suite, over one kind.
fn conformance(kind: DestinationKind) {
    let mut sb = Sandbox::with_random_db(3);
    let mut dest = fixture(kind, &mut sb);
    let traits = dest.traits();
    let configure = |sb: &Sandbox, dest: &dyn DestinationFixture, databases: &[&str], extra: &str| {
        sb.write_config(databases, &format!("{}{extra}", dest.config(sb)));
    };
    configure(&sb, dest.as_ref(), &["app.db"], "");
    if !traits.carries_archives {
        alerts_only(kind, &sb, dest.as_mut());
        return;
    }

    // An archive arrives whole.
    let (first, said) = cycle(&sb, 0);
    assert_whole(kind, dest.as_ref(), &first, &said);
    if traits.parts {
        assert!(dest.received().len() > 1, "{kind:?}: a 3 MB archive goes in parts");
    }

    // A failure in the middle: the archive is owed, not lost.
    next_second();
    sb.write_row();
    let files_before = dest.received().len();
    dest.interrupt();
    configure(&sb, dest.as_ref(), &["app.db"], "");
    let (owed, said) = cycle(&sb, 3);
    assert!(arrived(dest.as_ref(), &owed.name) != Some(owed.bytes.clone()), "{kind:?}: it arrived despite the failure");
    if traits.parts {
        assert!(dest.received().len() > files_before, "{kind:?}: the first part went before the failure: {said}");
    }
    assert!(sb.archives().iter().any(|a| archive_of(a) == owed.name), "{kind:?}: an owed archive is kept");
    let listed = String::from_utf8(sb.cmd(&["list", "--json"]).assert().success().get_output().stdout.clone()).unwrap();
    let rows: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["name"] == owed.name.as_str()).expect("listed");
    let kept_by = row["kept_by"].as_array().unwrap();
    assert!(kept_by.contains(&"delivery".into()), "{kind:?}: the delivery is recorded as owed: {row}");

    // The next cycle completes it, and sends nothing twice.
    dest.heal();
    configure(&sb, dest.as_ref(), &["app.db"], "");
    next_second();
    sb.write_row();
    let (third, said) = cycle(&sb, 0);
    assert_whole(kind, dest.as_ref(), &third, &said);
    match traits.catch_up {
        CatchUp::EveryArchive => assert_whole(kind, dest.as_ref(), &owed, "caught up"),
        CatchUp::NewestOnly => {}
    }
    let mut names: Vec<String> = dest.received().into_iter().map(|(f, _)| f).collect();
    let sent = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), sent, "{kind:?}: a file was sent twice: {names:?}");

    // Retention retires the older archives, and where the kind can, they go there too.
    for _ in 0..2 {
        next_second();
        sb.write_row();
        configure(&sb, dest.as_ref(), &["app.db"], "[retention]\nmax_count = 1\n");
        cycle(&sb, 0);
    }
    assert!(!sb.archives().iter().any(|a| archive_of(a) == first.name), "{kind:?}: retention kept {}", first.name);
    if traits.retires {
        assert!(arrived(dest.as_ref(), &first.name).is_none(), "{kind:?}: the retired {} is still there", first.name);
    } else {
        assert_whole(kind, dest.as_ref(), &first, "what cannot be removed there stays");
    }

    // A failing source alerts every kind that carries text.
    next_second();
    configure(&sb, dest.as_ref(), &["app.db", "gone.db"], "");
    let (partial, said) = cycle(&sb, 3);
    assert_whole(kind, dest.as_ref(), &partial, "the partial archive");
    if traits.carries_text {
        let alerts = dest.alerts();
        assert!(alerts.iter().any(|t| t.contains("gone.db")), "{kind:?}: no alert names gone.db: {alerts:?}\n{said}");
    }
}

/// The suite over a kind that carries alerts only: a cycle with nothing to
/// say sends it nothing; a failing source's alert arrives; a failure there
/// is reported and changes no exit code.
fn alerts_only(kind: DestinationKind, sb: &Sandbox, dest: &mut dyn DestinationFixture) {
    let (_, said) = cycle(sb, 0);
    assert!(dest.alerts().is_empty(), "{kind:?}: a good cycle alerted: {:?}\n{said}", dest.alerts());
    assert!(dest.received().is_empty(), "{kind:?}: an archive went to an alerts-only kind");
    next_second();
    sb.write_config(&["app.db", "gone.db"], &dest.config(sb));
    let (_, said) = cycle(sb, 3);
    let alerts = dest.alerts();
    assert!(alerts.iter().any(|t| t.contains("gone.db")), "{kind:?}: no alert names gone.db: {alerts:?}\n{said}");
    dest.interrupt();
    next_second();
    sb.write_config(&["app.db", "gone.db"], &dest.config(sb));
    let (_, said) = cycle(sb, 3);
    assert!(said.contains("Alerting the admins failed"), "{kind:?}: the failure is reported: {said}");
    dest.heal();
    next_second();
    sb.write_config(&["app.db"], &dest.config(sb));
    cycle(sb, 0);
}

/// Admin 111, archives over 1 MB in parts.
struct TelegramFixture {
    fake: FakeTelegram,
}

const CHAT: i64 = 111;

impl DestinationFixture for TelegramFixture {
    fn traits(&self) -> Traits {
        Traits {
            carries_archives: true,
            parts: true,
            catch_up: CatchUp::NewestOnly,
            retires: false,
            carries_text: true,
        }
    }

    fn config(&self, _: &Sandbox) -> String {
        format!(
            "[telegram]\ntoken = \"123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh\"\napi_url = {:?}\nadmin_ids = [{CHAT}]\nmax_upload_mb = 1\n",
            self.fake.api_url()
        )
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.fake.received_files(CHAT).into_iter().map(|u| (u.file_name, u.bytes)).collect()
    }

    fn alerts(&self) -> Vec<String> {
        self.fake.sent_messages(CHAT).into_iter().filter_map(|m| m.text).collect()
    }

    /// The second part meets a flood wait longer than a cycle sits out.
    fn interrupt(&mut self) {
        self.fake.fail_method_after("sendDocument", 1, 1, Fault::TooManyRequests { retry_after: 120 });
    }

    fn heal(&mut self) {}
}

/// A bucket under prefix `bot/`.
struct S3Fixture {
    s3: SeaweedFs,
}

impl DestinationFixture for S3Fixture {
    fn traits(&self) -> Traits {
        Traits {
            carries_archives: true,
            parts: false,
            catch_up: CatchUp::EveryArchive,
            retires: true,
            carries_text: false,
        }
    }

    fn config(&self, sb: &Sandbox) -> String {
        common::s3_destination(sb.dir.path(), &self.s3)
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.s3
            .keys("bot/")
            .into_iter()
            .filter_map(|k| Some((k.strip_prefix("bot/")?.to_string(), self.s3.object(&k)?)))
            .collect()
    }

    fn alerts(&self) -> Vec<String> {
        Vec::new()
    }

    /// The server is down for the next cycle.
    fn interrupt(&mut self) {
        self.s3.kill();
    }

    fn heal(&mut self) {
        self.s3.run();
    }
}

/// A channel's webhook, archives over 1 MB in parts.
struct DiscordFixture {
    fake: FakeDiscord,
}

impl DestinationFixture for DiscordFixture {
    fn traits(&self) -> Traits {
        Traits {
            carries_archives: true,
            parts: true,
            catch_up: CatchUp::EveryArchive,
            retires: false,
            carries_text: true,
        }
    }

    fn config(&self, sb: &Sandbox) -> String {
        common::discord_destination(sb.dir.path(), &self.fake.webhook_url(), 1)
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.fake.posted().into_iter().flat_map(|p| p.files).collect()
    }

    fn alerts(&self) -> Vec<String> {
        self.fake.posted().into_iter().filter(|p| p.files.is_empty()).map(|p| p.content).collect()
    }

    /// The second part meets a rate limit longer than a cycle sits out.
    fn interrupt(&mut self) {
        self.fake.pass_next(1);
        self.fake.fail_next([DiscordFault::RateLimited(120.0)]);
    }

    fn heal(&mut self) {}
}

/// Two recipients over STARTTLS; `down`: a port nobody listens on.
struct EmailFixture {
    smtp: SmtpServer,
    down: Option<u16>,
}

impl DestinationFixture for EmailFixture {
    fn traits(&self) -> Traits {
        Traits {
            carries_archives: true,
            parts: false,
            catch_up: CatchUp::EveryArchive,
            retires: false,
            carries_text: true,
        }
    }

    fn config(&self, sb: &Sandbox) -> String {
        let toml = common::email_destination(sb.dir.path(), &self.smtp, 20);
        match self.down {
            Some(port) => toml.replace(&format!(":{}", self.smtp.port), &format!(":{port}")),
            None => toml,
        }
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.smtp.messages().into_iter().flat_map(|m| m.attachments).collect()
    }

    fn alerts(&self) -> Vec<String> {
        let alerts = self.smtp.messages().into_iter().filter(|m| m.attachments.is_empty());
        alerts.map(|m| format!("{}\n{}", m.subject, m.body)).collect()
    }

    /// The relay is unreachable for the next cycle.
    fn interrupt(&mut self) {
        self.down = Some(lifeboat_testkit::servers::free_port());
    }

    fn heal(&mut self) {
        self.down = None;
    }
}

/// `[[destinations.webhook]]` in the json format; interrupted, it answers
/// 500 to every try.
struct WebhookFixture {
    server: HttpRecorder,
}

impl DestinationFixture for WebhookFixture {
    fn traits(&self) -> Traits {
        Traits {
            carries_archives: false,
            parts: false,
            catch_up: CatchUp::EveryArchive,
            retires: false,
            carries_text: true,
        }
    }

    fn config(&self, sb: &Sandbox) -> String {
        let url = sb.secret("webhook.url", &format!("{}/alerts/secret", self.server.url()));
        format!("[[destinations.webhook]]\nname = \"ops\"\nurl_file = {url:?}\nformat = \"json\"\n")
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    fn alerts(&self) -> Vec<String> {
        self.server
            .bodies()
            .iter()
            .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok()?["text"].as_str().map(str::to_string))
            .collect()
    }

    fn interrupt(&mut self) {
        self.server = HttpRecorder::start_answering(&[500; 10]);
    }

    fn heal(&mut self) {
        self.server = HttpRecorder::start();
    }
}
