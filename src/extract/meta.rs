//! Title and publication date.
//!
//! [`Meta::scan`] collects, in one walk over the document, every element the
//! metadata rules read (`<meta>`, JSON-LD scripts, `h1`, `title`,
//! `[itemprop=datePublished]`, `time[datetime]`), and parses the JSON-LD
//! blocks once; [`title`] and [`published`] then look only there. Profile
//! selectors are still matched against the whole document.

use super::dates;
use super::profiles::Profile;
use scraper::{ElementRef, Html, Selector};

fn text_of(el: &ElementRef) -> String {
    super::normalize_text(&el.text().collect::<String>())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_text(doc: &Html, selector: &Selector) -> Option<String> {
    doc.select(selector)
        .map(|e| text_of(&e))
        .find(|t| !t.is_empty())
}

fn collapsed(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `<meta>` tags (attribute, value) giving the title, in order of preference.
pub(crate) const TITLE_METAS: &[(&str, &str)] = &[("property", "og:title"), ("name", "og:title")];

/// `<meta>` tags (attribute, value) giving the publication date, in order of preference.
pub(crate) const DATE_METAS: &[(&str, &str)] = &[
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "dcterms.date"),
    ("name", "DC.date.issued"),
    ("name", "date"),
    ("name", "pubdate"),
    ("name", "publish-date"),
    ("property", "og:published_time"),
];

/// What the metadata rules read, in document order.
pub(crate) struct Meta<'a> {
    metas: Vec<ElementRef<'a>>,
    h1: Vec<ElementRef<'a>>,
    titles: Vec<ElementRef<'a>>,
    date_published: Vec<ElementRef<'a>>,
    times: Vec<ElementRef<'a>>,
    /// Parsed JSON-LD blocks (unparsable ones are skipped).
    json_ld: Vec<serde_json::Value>,
}

impl<'a> Meta<'a> {
    pub(crate) fn scan(doc: &'a Html) -> Meta<'a> {
        let mut m = Meta {
            metas: Vec::new(),
            h1: Vec::new(),
            titles: Vec::new(),
            date_published: Vec::new(),
            times: Vec::new(),
            json_ld: Vec::new(),
        };
        for node in doc.tree.root().descendants() {
            let Some(el) = ElementRef::wrap(node) else {
                continue;
            };
            let v = el.value();
            match v.name() {
                "meta" => m.metas.push(el),
                "h1" => m.h1.push(el),
                "title" => m.titles.push(el),
                "time" if v.attr("datetime").is_some() => m.times.push(el),
                "script"
                    if v.attr("type")
                        .is_some_and(|t| t.eq_ignore_ascii_case("application/ld+json")) =>
                {
                    let raw: String = el.text().collect();
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.trim()) {
                        m.json_ld.push(value);
                    }
                }
                _ => {}
            }
            if v.attr("itemprop") == Some("datePublished") {
                m.date_published.push(el);
            }
        }
        m
    }

    /// The first non-empty `content` of a `<meta>` whose `key` attribute is `value`.
    fn meta_content(&self, key: &str, value: &str) -> Option<String> {
        self.metas
            .iter()
            .filter(|e| e.value().attr(key) == Some(value))
            .filter_map(|e| e.value().attr("content"))
            .map(collapsed)
            .find(|v| !v.is_empty())
    }

    /// All string values of `key` in the page's JSON-LD blocks (any depth,
    /// `@graph` included).
    pub(crate) fn json_ld_strings(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for value in &self.json_ld {
            // Iterative walk (serde_json itself limits nesting to 128 levels).
            let mut stack = vec![value];
            while let Some(v) = stack.pop() {
                match v {
                    serde_json::Value::Object(map) => {
                        if let Some(serde_json::Value::String(s)) = map.get(key) {
                            out.push(s.clone());
                        }
                        stack.extend(map.values().rev());
                    }
                    serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
                    _ => {}
                }
            }
        }
        out
    }
}

/// Strips a site suffix: the last ` | ...`, ` - ...`, ` – ...` or ` — ...`
/// segment, when what remains is not empty.
pub(crate) fn strip_site_suffix(title: &str) -> String {
    for sep in [" | ", " – ", " — ", " - ", " :: ", " · "] {
        if let Some(pos) = title.rfind(sep) {
            let head = title[..pos].trim();
            if !head.is_empty() {
                return head.to_string();
            }
        }
    }
    title.trim().to_string()
}

/// Title: in a profile, the profile's title selectors first; then `og:title`,
/// then the first `h1`, then `<title>` without its site suffix.
pub(crate) fn title(doc: &Html, meta: &Meta, profile: Option<&Profile>) -> String {
    let nfc = |s: String| super::normalize_text(&html_escape::decode_html_entities(&s));
    if let Some(c) = profile.and_then(super::profiles::compiled) {
        for s in &c.title {
            if let Some(t) = first_text(doc, s) {
                return nfc(t);
            }
        }
    }
    if let Some(t) = TITLE_METAS
        .iter()
        .find_map(|(key, value)| meta.meta_content(key, value))
    {
        return nfc(t);
    }
    let first = |els: &[ElementRef]| els.iter().map(text_of).find(|t| !t.is_empty());
    if let Some(t) = first(&meta.h1) {
        return nfc(t);
    }
    if let Some(t) = first(&meta.titles) {
        return nfc(strip_site_suffix(&t));
    }
    String::new()
}

/// Publication date as ISO 8601: JSON-LD `datePublished`, publication meta
/// tags, the profile's date selectors, then the first `time[datetime]`.
pub(crate) fn published(doc: &Html, meta: &Meta, profile: Option<&Profile>) -> Option<String> {
    if let Some(d) = meta
        .json_ld_strings("datePublished")
        .iter()
        .find_map(|s| dates::to_iso(s))
    {
        return Some(d);
    }
    for (key, value) in DATE_METAS {
        if let Some(d) = meta
            .meta_content(key, value)
            .and_then(|v| dates::to_iso(&v))
        {
            return Some(d);
        }
    }
    if let Some(c) = profile.and_then(super::profiles::compiled) {
        for selector in &c.date {
            for el in doc.select(selector) {
                let candidates = [
                    el.attr("datetime").map(str::to_string),
                    el.attr("content").map(str::to_string),
                    Some(text_of(&el)),
                ];
                if let Some(d) = candidates.iter().flatten().find_map(|v| dates::to_iso(v)) {
                    return Some(d);
                }
            }
        }
    }
    for el in &meta.date_published {
        let v = el
            .attr("datetime")
            .or(el.attr("content"))
            .map(str::to_string)
            .unwrap_or_else(|| text_of(el));
        if let Some(d) = dates::to_iso(&v) {
            return Some(d);
        }
    }
    meta.times
        .iter()
        .filter_map(|e| e.attr("datetime"))
        .map(collapsed)
        .find(|v| !v.is_empty())
        .and_then(|v| dates::to_iso(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_suffix() {
        assert_eq!(
            strip_site_suffix("A title | International Organization for Migration"),
            "A title"
        );
        assert_eq!(strip_site_suffix("One - Two - Site"), "One - Two");
        assert_eq!(strip_site_suffix("| Site"), "| Site");
        assert_eq!(strip_site_suffix("Plain"), "Plain");
    }
}
