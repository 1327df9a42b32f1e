//! The "Acknowledge" button under a shrink alert. The scheduler sends the
//! alert and the dashboard answers the press, so both read this one
//! spelling of its callback data, in the dashboard's button format
//! (`v1:u:YYYYMMDD_HHMMSS`).

/// The button's label.
pub const LABEL: &str = "✅ Acknowledge (unpin)";

use lifeboat_core::catalog::ArchiveName;

/// The callback data that unpins `archive`; None for a name that is not a
/// whole catalog archive's name.
pub fn callback_data(archive: &str) -> Option<String> {
    let name = ArchiveName::parse(archive).ok().filter(|n| n.part().is_none())?;
    Some(format!("v1:u:{}", name.stamp()))
}

/// The archive a press asks to unpin.
pub fn archive_of(data: &str) -> Option<String> {
    let stamp = data.strip_prefix("v1:u:")?;
    ArchiveName::from_stamp(stamp).ok().map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strict() {
        let name = "database_backup_20261122_100000.zip";
        let data = callback_data(name).unwrap();
        assert_eq!(data, "v1:u:20261122_100000");
        assert!(data.len() <= 64);
        assert_eq!(archive_of(&data).as_deref(), Some(name));
        for bad in ["v1:u:20261322_100000", "v1:u:x", "v2:u:20261122_100000", "v1:u:20261122_100000:1"] {
            assert_eq!(archive_of(bad), None, "{bad}");
        }
        assert_eq!(callback_data("database_backup_20261122_100000.zip.001"), None);
        assert_eq!(callback_data("database_backup_20261122_100000.zip.age").as_deref(), Some("v1:u:20261122_100000"));
    }
}
