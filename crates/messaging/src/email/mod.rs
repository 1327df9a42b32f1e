//! Mail through an SMTP relay (lettre; implicit TLS with `smtps://`,
//! STARTTLS with `smtp://…?tls=required`): each archive attached when it is
//! at most `max_attachment_mb`, otherwise a message saying where it is;
//! alerts as mail.
//!
//! A message counts as sent once the relay accepted it (its 250 to the
//! message data). A refusal with a permanent (5xx) reply, such as rejected
//! credentials, is not tried again with that archive; a connection that
//! fails, times out or gets a 4xx reply is tried again next cycle. The
//! password comes from `password_file` and never appears in logs or errors.

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::config::MB;
use lifeboat_core::destination::{
    AlertError, Answer, BoxFuture, CopyFailure, CopySink, DestinationId, DestinationKind, Handover, Notifier,
    NotifierKind, Opened, Probe, ProbeContext, ProbeError, SetupFailed, Surroundings, Unusable,
};
use lifeboat_core::state::FailureCode;
use lifeboat_core::units::human_size;
use tokio_util::sync::CancellationToken;

mod section;
pub use section::{EmailConfig, EmailFile};

/// Why the email destination cannot be set up from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A key the relay needs is empty: start-up refuses that, so only a
    /// configuration changed after loading holds it.
    #[error("{key} is empty; set it and restart")]
    Missing {
        /// `section.key`
        key: &'static str,
    },
    /// `smtp_url` has no room for the login (no host).
    #[error("smtp_url cannot hold a user")]
    NoUser,
    /// lettre refuses `smtp_url`.
    #[error("smtp_url: {words}")]
    Transport {
        /// lettre's words, without the password.
        words: String,
    },
}

/// What to fix when the relay does not answer or refuses the login.
const FIX: &str = "check smtp_url (host, port, smtps:// or ?tls=required) and destinations.email.password_file; mail waits in the outbox meanwhile";

/// Opens `[destinations.email]` when a relay is configured: archives,
/// alerts and its probe. One that cannot be set up is still a destination
/// (every archive is recorded as owed to it and failed), and its probe says
/// why.
pub fn open_configured(section: &EmailConfig, around: &Surroundings, out: &mut Opened) {
    if !section.enabled() {
        return;
    }
    match EmailDestination::open(section, around) {
        Ok(d) => out.add_in_every_role(around.clone(), Arc::new(d)),
        Err(why) => {
            tracing::error!("email: {why}");
            out.sinks.push(Arc::new(Unusable { id: DestinationId::EMAIL, why: format!("email cannot send: {why}") }));
            out.probes.push(Arc::new(SetupFailed {
                subject: DestinationId::EMAIL.to_string(),
                error: ProbeError::new(FailureCode::Refused, why.to_string(), FIX),
            }));
        }
    }
}

/// The configured relay and recipients.
pub struct EmailDestination {
    settings: EmailConfig,
    around: Surroundings,
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for EmailDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailDestination").field("from", &self.from).field("to", &self.to).finish_non_exhaustive()
    }
}

impl EmailDestination {
    /// Sets up the transport.
    pub fn open(e: &EmailConfig, around: &Surroundings) -> Result<EmailDestination, SetupError> {
        let mut url = e.smtp_url.clone().ok_or(SetupError::Missing { key: "destinations.email.smtp_url" })?;
        if !e.password.is_empty() {
            // lettre reads the credentials from the URL; the URL with the
            // password in it never leaves this function.
            url.set_password(Some(e.password.expose())).map_err(|_| SetupError::NoUser)?;
        }
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map_err(|e| SetupError::Transport { words: error_words(&e) })?
            .timeout(Some(Duration::from_secs(e.timeout_secs)))
            .build();
        let from = e.from.clone().ok_or(SetupError::Missing { key: "destinations.email.from" })?;
        Ok(EmailDestination { settings: e.clone(), around: around.clone(), mailer, from, to: e.to.clone() })
    }

    fn settings(&self) -> &EmailConfig {
        &self.settings
    }

    /// Connects, greets and logs in, without sending anything.
    async fn ask(&self) -> Result<String, ProbeError> {
        let Ok(tested) = tokio::time::timeout(self.deadline(), self.mailer.test_connection()).await else {
            return Err(ProbeError::new(FailureCode::Transient, self.too_slow(), FIX));
        };
        match tested {
            Ok(true) => Ok(format!(
                "relay answers and accepts the login; mail goes to {}",
                Mailboxes::from_iter(self.to.iter().cloned())
            )),
            Ok(false) => Err(ProbeError::new(FailureCode::Transient, "the relay does not answer", FIX)),
            Err(e) => Err(ProbeError::new(failure(&e).code, error_words(&e), FIX)),
        }
    }

    /// How long one attempt may take: lettre bounds only the connect, and a
    /// relay that accepts but never speaks would hold the cycle.
    fn deadline(&self) -> Duration {
        Duration::from_secs(self.settings().timeout_secs)
    }

    fn too_slow(&self) -> String {
        format!(
            "the relay did not answer within {} s (destinations.email.timeout_secs); is smtp_url's host and port an SMTP relay?",
            self.settings().timeout_secs
        )
    }

    /// One attempt to hand `message` over, within [`Self::deadline`].
    async fn send_once(&self, message: &Message) -> Result<(), CopyFailure> {
        match tokio::time::timeout(self.deadline(), self.mailer.send(message.clone())).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| failure(&e)),
            Err(_) => Err(CopyFailure::transient(FailureCode::Transient, self.too_slow())),
        }
    }

    fn message(&self, subject: &str, body: MultiPart) -> Result<Message, CopyFailure> {
        let mut b = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            b = b.to(to.clone());
        }
        b.multipart(body)
            .map_err(|e| CopyFailure::permanent(FailureCode::Refused, format!("cannot build the mail: {e}")))
    }

    /// Sends `message`, with retry of transient failures.
    async fn send_message(&self, message: Message, cancel: &CancellationToken) -> Result<(), CopyFailure> {
        let attempt = || self.send_once(&message);
        let retried = attempt.retry(self.around.retry.backoff()).when(|f: &CopyFailure| !f.permanent).notify(
            |f: &CopyFailure, d: Duration| {
                tracing::warn!(wait_ms = d.as_millis() as u64, "email: {f}; retrying");
            },
        );
        tokio::select! {
            r = retried => r,
            _ = cancel.cancelled() => Err(CopyFailure::transient(FailureCode::Transient, "stopped before the relay accepted it")),
        }
    }

    async fn send_archive(&self, archive: &StoredArchive, cancel: &CancellationToken) -> Result<u64, CopyFailure> {
        let limit = self.settings().max_attachment_mb * MB;
        let captions = crate::Captions::new(&self.around, archive);
        let caption = captions.part(1, 1);
        let flag = if captions.partial() { "⚠️ PARTIAL backup" } else { "Backup" };
        let subject = format!("{flag} {}", archive.name);
        if archive.size > limit {
            let here = gethostname::gethostname().to_string_lossy().into_owned();
            // The other places each archive goes, named in a mail too
            // large to carry it.
            let elsewhere = &self.around.elsewhere;
            let also =
                if elsewhere.is_empty() { String::new() } else { format!(", and goes to {}", elsewhere.join(", ")) };
            let text = format!(
                "{caption}\n\nThe archive is {}, over destinations.email.max_attachment_mb ({} MB), so it is not attached.\n\
                 It is on {here} in {}{also}.",
                human_size(archive.size),
                self.settings().max_attachment_mb,
                self.around.output_dir.display(),
            );
            self.send_message(self.message(&subject, MultiPart::mixed().singlepart(SinglePart::plain(text)))?, cancel)
                .await?;
            return Ok(0);
        }
        let mut body = MultiPart::mixed().singlepart(SinglePart::plain(caption));
        // Split archives go as their parts, each named as on disk.
        for path in &archive.files {
            let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| CopyFailure::permanent(FailureCode::FileUnreadable, format!("cannot read {name}: {e}")))?;
            body = body.singlepart(
                Attachment::new(name)
                    .body(bytes, ContentType::parse("application/octet-stream").expect("a valid MIME type")),
            );
        }
        self.send_message(self.message(&subject, body)?, cancel).await?;
        Ok(archive.size)
    }
}

/// A relay error in words: the reply when there is one, else what broke.
fn error_words(e: &lettre::transport::smtp::Error) -> String {
    let mut words = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_words = s.to_string();
        if !words.contains(&s_words) {
            words = format!("{words}: {s_words}");
        }
        source = s.source();
    }
    words
}

/// Permanent (5xx) replies are not tried again; rejected credentials and a
/// message too large get their own codes. Everything else (refused or lost
/// connections, timeouts, 4xx) is tried again.
fn failure(e: &lettre::transport::smtp::Error) -> CopyFailure {
    let words = error_words(e);
    let status = e.status().map(|c| c.to_string());
    match status.as_deref() {
        Some("530" | "534" | "535" | "538") => CopyFailure::permanent(
            FailureCode::BadCredentials,
            format!(
                "the relay refused the login: {words}; check the user in smtp_url and destinations.email.password_file"
            ),
        ),
        Some("552") => CopyFailure::permanent(
            FailureCode::FileTooLarge,
            format!("the relay refused the size: {words}; lower destinations.email.max_attachment_mb"),
        ),
        // lettre's words for a relay that offers no login on this
        // connection, typically plain SMTP where it wants TLS first.
        _ if e.is_client() && words.contains("authentication mechanism") => CopyFailure::permanent(
            FailureCode::BadCredentials,
            format!("{words}: the relay offers no login here; use smtps:// or smtp://…?tls=required in smtp_url"),
        ),
        _ if e.is_permanent() => {
            CopyFailure::permanent(FailureCode::Refused, format!("the relay refused the mail: {words}"))
        }
        _ => CopyFailure::transient(FailureCode::Transient, format!("cannot send through the relay: {words}")),
    }
}

impl CopySink for EmailDestination {
    fn id(&self) -> &DestinationId {
        &DestinationId::EMAIL
    }

    fn has_recipients(&self) -> bool {
        !self.to.is_empty()
    }

    fn send<'a>(&'a self, job: Handover<'a>) -> BoxFuture<'a, Result<u64, CopyFailure>> {
        // A mail is sent whole: there are no parts to resume after.
        Box::pin(self.send_archive(job.archive, job.cancel))
    }
}

impl Probe for EmailDestination {
    fn subject(&self) -> String {
        DestinationId::EMAIL.to_string()
    }

    fn probe<'a>(&'a self, _: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async move { self.ask().await.map(Answer::Fine) })
    }
}

impl Notifier for EmailDestination {
    fn kind(&self) -> NotifierKind {
        DestinationKind::Email.into()
    }

    fn has_recipients(&self) -> bool {
        !self.to.is_empty()
    }

    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(async move {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("alert");
            let subject = format!("Lifeboat: {}", crate::fit(first, 120));
            let message = self.message(&subject, MultiPart::mixed().singlepart(SinglePart::plain(text.to_string())));
            let sent = match message {
                Ok(m) => self.send_message(m, &CancellationToken::new()).await,
                Err(e) => Err(e),
            };
            sent.map_err(AlertError::from)
        })
    }
}
