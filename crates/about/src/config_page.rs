//! `lifeboat.toml(5)`, made from the commented defaults file: its opening
//! comment is the description, each `[section]` a subsection, each key its
//! default and the comment above it.

use roff::{Roff, bold, roman};

/// The manual page of the configuration file, from `default_toml` (the
/// text of `config/default.toml`). `more` is prose appended as its own
/// section (the optional sources and destinations).
pub fn config_page(default_toml: &str, more: &[(&str, &str)]) -> Vec<u8> {
    let mut roff = Roff::new();
    roff.control("TH", ["lifeboat.toml", "5"]);
    roff.control("SH", ["NAME"]).text([roman("lifeboat.toml - the configuration of Lifeboat")]);
    let mut comment: Vec<&str> = Vec::new();
    let mut in_description = true;
    let mut lines = default_toml.lines().peekable();
    roff.control("SH", ["DESCRIPTION"]);
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(text) = trimmed.strip_prefix('#') {
            comment.push(text.trim());
        } else if trimmed.starts_with('[') {
            if in_description {
                paragraph(&mut roff, &comment);
                roff.control("SH", ["KEYS"]);
                in_description = false;
            }
            roff.control("SS", [trimmed]);
            comment.clear();
        } else if let Some((key, value)) = trimmed.split_once('=') {
            let mut value = value.trim().to_string();
            // An array may go on over the next lines.
            while lines.peek().is_some_and(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
                value.push(' ');
                value.push_str(lines.next().unwrap_or_default().trim());
            }
            roff.control("TP", [] as [&str; 0]).text([bold(key.trim()), roman(format!(" = {value}"))]);
            paragraph(&mut roff, &comment);
            comment.clear();
        } else if trimmed.is_empty() && in_description {
            paragraph(&mut roff, &comment);
            comment.clear();
        }
    }
    for (title, text) in more {
        roff.control("SH", [*title]).text([roman(*text)]);
    }
    roff.control("SH", ["SEE ALSO"]).text([
        bold("lifeboat"),
        roman("(1), "),
        bold("lifeboat-scheduler"),
        roman("(8), "),
        bold("lifeboat-dashboard"),
        roman("(8), /usr/share/doc/lifeboat/README.md (every key, with the sources and destinations)"),
    ]);
    roff.to_roff().into_bytes()
}

fn paragraph(roff: &mut Roff, lines: &[&str]) {
    if !lines.is_empty() {
        roff.text([roman(lines.join(" "))]);
    }
}

#[cfg(test)]
mod tests {
    use super::config_page;

    const TOML: &str = "# Built-in defaults.\n# Later layers win.\n\n[backup]\n# Where archives go.\noutput_dir = \"backups\"\n# The five.\ndatabases = [\"a.db\",\n             \"b.db\"]\n\n[retry]\nattempts = 3\n";

    #[test]
    fn each_key_comes_with_its_default_and_its_comment() {
        let page = String::from_utf8(config_page(TOML, &[("SOURCES", "Any number.")])).unwrap();
        assert!(page.contains(".TH lifeboat.toml 5"), "{page}");
        assert!(page.contains("Built\\-in defaults. Later layers win."), "{page}");
        assert!(page.contains(".SS [backup]") && page.contains(".SS [retry]"), "{page}");
        assert!(page.contains("\\fBoutput_dir\\fR = \"backups\"\nWhere archives go."), "{page}");
        assert!(page.contains("databases\\fR = [\"a.db\", \"b.db\"]\nThe five."), "{page}");
        assert!(page.contains("\\fBattempts\\fR = 3"), "{page}");
        assert!(page.contains(".SH SOURCES\nAny number."), "{page}");
    }
}
