//! Small shared helpers: URL canonical form, hashing, timestamps.

use sha2::{Digest, Sha256};
use url::Url;

/// Query parameters that only track the reader and never select content.
const TRACKING_PARAMS: &[&str] = &["fbclid", "gclid", "mc_cid", "mc_eid", "igshid", "ref_src"];

/// The canonical form of a statement URL: fragment dropped, tracking parameters removed.
/// A statement is identified by this string.
pub fn canonical_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u
}

/// Parse and canonicalise a user-given URL string.
pub fn parse_canonical(s: &str) -> Result<Url, url::ParseError> {
    Url::parse(s.trim()).map(|u| canonical_url(&u))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Now, as stored in the database (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    rfc3339(chrono::Utc::now())
}

/// A UTC time as stored in the database; these strings sort in time order.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The text a version is compared by: the title, a blank line, the body.
pub fn statement_text(title: &str, body: &str) -> String {
    format!("{title}\n\n{body}")
}

/// Number of words (whitespace-separated tokens) in a text.
pub fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_drops_fragment_and_tracking() {
        let u = parse_canonical("https://www.iom.int/news/x?utm_source=rss&page=2&fbclid=1#top")
            .expect("url");
        assert_eq!(u.as_str(), "https://www.iom.int/news/x?page=2");
        let u = parse_canonical("https://www.iom.int/news/x?utm_medium=a#frag").expect("url");
        assert_eq!(u.as_str(), "https://www.iom.int/news/x");
    }
}
