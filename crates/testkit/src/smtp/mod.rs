//! A real SMTP server (Python's aiosmtpd) on a free loopback port, with
//! AUTH, and optionally STARTTLS or implicit TLS under a self-signed
//! certificate made with `openssl`. Each message it accepts is unpacked to
//! disk, so a test reads the subject, the body and every attachment's bytes.
//! A missing aiosmtpd fails the test loudly: `.ci/run` installs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// No TLS (AUTH allowed in clear, for tests only).
    Plain,
    /// STARTTLS required before AUTH (`smtp://…?tls=required`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    ImplicitTls,
}

/// One message the server accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The Subject header, decoded.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// Each attachment: file name and bytes.
    #[serde(skip)]
    pub attachments: Vec<(String, Vec<u8>)>,
}

/// The running server; dropping it stops it.
pub struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The one user it accepts.
    pub user: String,
    /// That user's password.
    pub password: String,
    mode: SmtpMode,
}

impl SmtpServer {
    /// Starts a server in `mode`.
    pub fn start(mode: SmtpMode) -> SmtpServer {
        let dir = tempfile::Builder::new().prefix("lb-smtp").tempdir().expect("temp dir");
        let script = dir.path().join("server.py");
        std::fs::write(&script, include_str!("server.py")).expect("write server.py");
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).expect("mail folder");
        let mode_arg = match mode {
            SmtpMode::Plain => "plain",
            SmtpMode::StartTls => "starttls",
            SmtpMode::ImplicitTls => "tls",
        };
        let mut cmd = Command::new("python3");
        let port = crate::servers::free_port();
        let (user, password) = ("backup@example.test".to_string(), "smtp-test-secret-51f0".to_string());
        cmd.arg(&script).arg(port.to_string()).arg(&mail).args([&user, &password, mode_arg]);
        if mode != SmtpMode::Plain {
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            let made = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
                .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl is installed");
            assert!(made.success(), "openssl could not make a test certificate");
            cmd.arg(&cert).arg(&key);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("python3 is installed");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        if ready.trim() != "READY" {
            let _ = child.kill();
            panic!(
                "the SMTP test server did not start; it needs aiosmtpd: python3 -m pip install aiosmtpd (.ci/run does)"
            );
        }
        SmtpServer { child, dir, port, user, password, mode }
    }

    /// The `smtp_url` for Lifeboat: the user, never the password.
    pub fn url(&self) -> String {
        let user = self.user.replace('@', "%40");
        match self.mode {
            SmtpMode::Plain => format!("smtp://{user}@127.0.0.1:{}", self.port),
            SmtpMode::StartTls => format!("smtp://{user}@127.0.0.1:{}?tls=required", self.port),
            SmtpMode::ImplicitTls => format!("smtps://{user}@127.0.0.1:{}", self.port),
        }
    }

    /// The certificate clients must trust (for `SSL_CERT_FILE`), when TLS.
    pub fn certificate(&self) -> Option<PathBuf> {
        (self.mode != SmtpMode::Plain).then(|| self.dir.path().join("cert.pem"))
    }

    /// A file holding the password (for `password_file`), in `dir`.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let p = dir.join("smtp-password");
        std::fs::write(&p, format!("{}\n", self.password)).unwrap();
        p
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Mail> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .expect("mail folder")
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        dirs.sort();
        dirs.iter()
            .map(|d| {
                let text = std::fs::read_to_string(d.join("message.json")).expect("message.json");
                let mut mail: Mail = serde_json::from_str(&text).expect("message.json parses");
                let mut files: Vec<PathBuf> = std::fs::read_dir(d.join("attachments"))
                    .expect("attachments")
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                files.sort();
                mail.attachments = files
                    .iter()
                    .map(|f| (f.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(f).unwrap()))
                    .collect();
                mail
            })
            .collect()
    }

    /// Waits up to 30 s for at least `n` messages; all of them.
    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
