//! A configuration naming every secret file of every kind, for the tests
//! that no secret is ever archived and that every one is in the registry.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The zip-aes password [`every_secret_file`] writes.
pub const ZIP_PASSWORD: &str = "zip-aes-password-1";

/// Writes one file per secret key of every kind into `secrets` (mode 0644:
/// other users may read them) and returns the TOML that names them all.
/// Every server is on 127.0.0.1 port 1, where nothing listens: sources are
/// skipped and destinations fail, their secret files still named.
pub fn every_secret_file(secrets: &Path) -> String {
    std::fs::create_dir_all(secrets).unwrap();
    let identity = secrets.join("age.key");
    let made = std::process::Command::new("age-keygen").arg("-o").arg(&identity).output();
    assert!(made.expect("age-keygen is installed").status.success());
    let files = [
        ("token", "42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh\n".to_string()),
        ("discord.token", format!("{}\n", crate::fake_discord_bot::TOKEN)),
        ("zip.pw", format!("{ZIP_PASSWORD}\n")),
        ("pg.pw", "pg-secret\n".to_string()),
        ("redis.pw", "redis-secret\n".to_string()),
        ("s3.key", "s3-secret\n".to_string()),
        ("webhook", "https://discord.com/api/webhooks/1/wh-secret\n".to_string()),
        ("smtp.pw", "smtp-secret\n".to_string()),
        ("alerts.url", "http://127.0.0.1:1/alerts-secret\n".to_string()),
    ];
    for (name, text) in &files {
        std::fs::write(secrets.join(name), text).unwrap();
    }
    for f in std::fs::read_dir(secrets).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let s = |name: &str| secrets.join(name).display().to_string();
    format!(
        "[telegram]\ntoken_file = {token:?}\n\
         [discord]\ntoken_file = {discord:?}\n\
         [encryption]\nmode = \"zip-aes\"\npassword_file = {zip:?}\nidentity_file = {identity:?}\n\
         [[sources.postgres]]\nname = \"pg\"\nurl = \"postgresql://backup@127.0.0.1:1/bot\"\npassword_file = {pg:?}\n\
         [[sources.redis]]\nname = \"cache\"\nurl = \"redis://127.0.0.1:1\"\npassword_file = {redis:?}\n\
         [[destinations.s3]]\nname = \"offsite\"\nendpoint = \"http://127.0.0.1:1\"\nbucket = \"b\"\n\
         access_key_id = \"id\"\nsecret_access_key_file = {s3:?}\n\
         [destinations.discord]\nwebhook_url_file = {hook:?}\n\
         [destinations.email]\nsmtp_url = \"smtps://backup@127.0.0.1:1\"\npassword_file = {smtp:?}\n\
         from = \"backup@example.com\"\nto = [\"ops@example.com\"]\n\
         [[destinations.webhook]]\nname = \"ops\"\nurl_file = {alerts:?}\nformat = \"ntfy\"\n",
        token = s("token"),
        discord = s("discord.token"),
        zip = s("zip.pw"),
        identity = identity.display().to_string(),
        pg = s("pg.pw"),
        redis = s("redis.pw"),
        s3 = s("s3.key"),
        hook = s("webhook"),
        smtp = s("smtp.pw"),
        alerts = s("alerts.url"),
    )
}
