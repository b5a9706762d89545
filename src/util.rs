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
    hex(&Sha256::digest(data))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
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
    words(s).count()
}

/// The words of `s`: exactly `str::split_whitespace`, with ASCII scanned byte by byte
/// (several times faster on the mostly-ASCII text of statements).
pub fn words(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    // Length of the whitespace char at `at` (0: not whitespace).
    let ws_len = move |at: usize| -> usize {
        let b = bytes[at];
        if b.is_ascii() {
            usize::from(b == b' ' || (b'\t'..=b'\r').contains(&b))
        } else {
            s[at..]
                .chars()
                .next()
                .filter(|c| c.is_whitespace())
                .map_or(0, char::len_utf8)
        }
    };
    std::iter::from_fn(move || {
        while i < bytes.len() {
            match ws_len(i) {
                0 => break,
                n => i += n,
            }
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                if b == b' ' || (b'\t'..=b'\r').contains(&b) {
                    break;
                }
                i += 1;
            } else {
                match ws_len(i) {
                    0 => i += s[i..].chars().next().map_or(1, char::len_utf8),
                    _ => break,
                }
            }
        }
        Some(&s[start..i])
    })
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v3, the version
/// libmimalloc-sys builds by default; a test checks it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For a process whose global allocator is mimalloc (the `presswatch` binary,
/// the extraction bench): freed memory goes back to the OS after 1 ms instead
/// of mimalloc's default 1 s. Each blocking thread that parsed a page keeps its
/// own heap; with the default a 2,000-page cycle peaked at 76 MB RSS, with 1 ms
/// at 49 MB (benches/cycle). Purging at once (0) gave 45 MB but made
/// extraction 7% slower (a page's memory is freed and reused within 1 ms).
/// Harmless under another allocator.
pub fn tune_allocator() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table;
    // any value is valid for this option (a delay in milliseconds).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_whitespace() {
        const PIECES: &[&str] = &[
            " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{85}", "\u{2028}", "\u{3000}",
            "a", "word", "é", "“x”", "🙂", "\u{301}", "\u{200b}",
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let n = rng.usize(0..10);
            let s: String = (0..n).map(|_| PIECES[rng.usize(0..PIECES.len())]).collect();
            let want: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(words(&s).collect::<Vec<_>>(), want, "{s:?}");
        }
    }

    /// The option index is right: mimalloc v3's default purge delay is 1000 ms, and no other
    /// option defaults to 1000.
    #[test]
    fn purge_delay_option_index() {
        // SAFETY: reads an integer from mimalloc's option table.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }

    #[test]
    fn canonical_drops_fragment_and_tracking() {
        let u = parse_canonical("https://www.iom.int/news/x?utm_source=rss&page=2&fbclid=1#top")
            .expect("url");
        assert_eq!(u.as_str(), "https://www.iom.int/news/x?page=2");
        let u = parse_canonical("https://www.iom.int/news/x?utm_medium=a#frag").expect("url");
        assert_eq!(u.as_str(), "https://www.iom.int/news/x");
    }
}
