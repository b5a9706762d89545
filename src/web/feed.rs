//! The Atom feed of changes (RFC 4287).

use std::fmt::Write;

use crate::diff::Diff;
use crate::store::{ChangeKind, ChangeRow};

/// One change with, for a `changed` one, its diff.
pub struct FeedEntry {
    pub change: ChangeRow,
    pub diff: Option<Diff>,
}

/// Text safe in XML 1.0 content and attributes: escaped, without the control characters XML
/// does not allow.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn kind_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::New => "New",
        ChangeKind::Changed => "Changed",
        ChangeKind::Removed => "Removed",
    }
}

/// The feed document. `base` is the absolute URL of the web change log (no trailing slash),
/// `instance` the database's instance id (stable ids), `updated` the feed's updated time when
/// there are no entries.
pub fn render(
    base: &str,
    self_url: &str,
    instance: &str,
    updated: &str,
    entries: &[FeedEntry],
) -> String {
    let mut s = String::with_capacity(1024 + entries.len() * 1024);
    let updated = entries
        .iter()
        .map(|e| e.change.detected_at.as_str())
        .max()
        .unwrap_or(updated);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(s, "  <id>urn:presswatch:{}:changes</id>", xml(instance));
    s.push_str("  <title>presswatch: changes to watched statements</title>\n");
    let _ = writeln!(s, "  <updated>{}</updated>", xml(updated));
    s.push_str("  <author><name>presswatch</name></author>\n");
    let _ = writeln!(
        s,
        "  <generator version=\"{}\">presswatch</generator>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        xml(self_url)
    );
    let _ = writeln!(
        s,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}/\"/>",
        xml(base)
    );
    for e in entries {
        let c = &e.change;
        let title = if c.title.trim().is_empty() {
            c.url.as_str()
        } else {
            c.title.as_str()
        };
        s.push_str("  <entry>\n");
        let _ = writeln!(
            s,
            "    <id>urn:presswatch:{}:change:{}</id>",
            xml(instance),
            c.id
        );
        let _ = writeln!(
            s,
            "    <title>{}: {}</title>",
            kind_label(c.kind),
            xml(title)
        );
        let _ = writeln!(s, "    <updated>{}</updated>", xml(&c.detected_at));
        let _ = writeln!(
            s,
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}/changes/{}\"/>",
            xml(base),
            c.id
        );
        let _ = writeln!(s, "    <link rel=\"related\" href=\"{}\"/>", xml(&c.url));
        let _ = writeln!(s, "    <category term=\"{}\"/>", c.kind.as_str());
        let _ = writeln!(
            s,
            "    <category term=\"{}\" label=\"source\"/>",
            xml(&c.source)
        );
        let summary = match c.kind {
            ChangeKind::New => format!("New statement on {} ({}).", c.source, c.url),
            ChangeKind::Changed => format!(
                "+{} / -{} words, version {} to {} ({}).",
                c.words_added,
                c.words_removed,
                c.from_version.unwrap_or(0),
                c.to_version.unwrap_or(0),
                c.url
            ),
            ChangeKind::Removed => {
                format!("The page answered 404/410 twice ({}).", c.url)
            }
        };
        let _ = writeln!(s, "    <summary type=\"text\">{}</summary>", xml(&summary));
        if let Some(d) = &e.diff {
            let html = crate::diff::render_html(d);
            let _ = writeln!(s, "    <content type=\"html\">{}</content>", xml(&html));
        }
        s.push_str("  </entry>\n");
    }
    s.push_str("</feed>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn xml_escapes_and_drops_control_characters() {
        assert_eq!(xml("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
