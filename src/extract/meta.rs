//! Title and publication date.

use super::dates;
use super::profiles::Profile;
use scraper::{ElementRef, Html, Selector};

fn sel(s: &str) -> Option<Selector> {
    Selector::parse(s).ok()
}

fn text_of(el: &ElementRef) -> String {
    super::normalize_text(&el.text().collect::<String>())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn first_text(doc: &Html, selector: &str) -> Option<String> {
    let s = sel(selector)?;
    doc.select(&s).map(|e| text_of(&e)).find(|t| !t.is_empty())
}

fn first_attr(doc: &Html, selector: &str, attr: &str) -> Option<String> {
    let s = sel(selector)?;
    doc.select(&s)
        .filter_map(|e| e.attr(attr))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|v| !v.is_empty())
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
pub(crate) fn title(doc: &Html, profile: Option<&Profile>) -> String {
    let nfc = |s: String| super::normalize_text(&html_escape::decode_html_entities(&s));
    if let Some(p) = profile {
        for s in p.title {
            if let Some(t) = first_text(doc, s) {
                return nfc(t);
            }
        }
    }
    if let Some(t) = first_attr(doc, r#"meta[property="og:title"]"#, "content")
        .or_else(|| first_attr(doc, r#"meta[name="og:title"]"#, "content"))
    {
        return nfc(t);
    }
    if let Some(t) = first_text(doc, "h1") {
        return nfc(t);
    }
    if let Some(t) = first_text(doc, "title") {
        return nfc(strip_site_suffix(&t));
    }
    String::new()
}

/// Publication date as ISO 8601: JSON-LD `datePublished`, publication meta
/// tags, the profile's date selectors, then the first `time[datetime]`.
pub(crate) fn published(doc: &Html, profile: Option<&Profile>) -> Option<String> {
    if let Some(d) = json_ld_strings(doc, "datePublished")
        .iter()
        .find_map(|s| dates::to_iso(s))
    {
        return Some(d);
    }
    for s in [
        r#"meta[property="article:published_time"]"#,
        r#"meta[name="article:published_time"]"#,
        r#"meta[itemprop="datePublished"]"#,
        r#"meta[name="dcterms.date"]"#,
        r#"meta[name="DC.date.issued"]"#,
        r#"meta[name="date"]"#,
        r#"meta[name="pubdate"]"#,
        r#"meta[name="publish-date"]"#,
        r#"meta[property="og:published_time"]"#,
    ] {
        if let Some(d) = first_attr(doc, s, "content").and_then(|v| dates::to_iso(&v)) {
            return Some(d);
        }
    }
    if let Some(p) = profile {
        for s in p.date {
            let Some(selector) = sel(s) else { continue };
            for el in doc.select(&selector) {
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
    if let Some(s) = sel("[itemprop=datePublished]") {
        for el in doc.select(&s) {
            let v = el
                .attr("datetime")
                .or(el.attr("content"))
                .map(str::to_string)
                .unwrap_or_else(|| text_of(&el));
            if let Some(d) = dates::to_iso(&v) {
                return Some(d);
            }
        }
    }
    first_attr(doc, "time[datetime]", "datetime").and_then(|v| dates::to_iso(&v))
}

/// All string values of `key` in the page's JSON-LD blocks (any depth, `@graph` included).
pub(crate) fn json_ld_strings(doc: &Html, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = sel(r#"script[type="application/ld+json"]"#) else {
        return out;
    };
    for script in doc.select(&s) {
        let raw: String = script.text().collect();
        let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.trim()) else {
            continue;
        };
        // Iterative walk (serde_json itself limits nesting to 128 levels).
        let mut stack = vec![&value];
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
