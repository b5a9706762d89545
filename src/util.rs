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

/// The words of `s` (as `split_whitespace` sees them) joined by single spaces, and how many.
///
/// Text presswatch normalized (words separated by one space, lines by `\n` runs, nothing
/// at either end) takes a fast path: the `\n` runs become spaces, found with SIMD search.
/// Anything else goes through `split_whitespace`.
pub fn words_joined(s: &str) -> (std::borrow::Cow<'_, str>, usize) {
    use std::borrow::Cow;
    if let Some(n_lines) = normalized_lines(s) {
        let b = s.as_bytes();
        let words = normalized_words(s, n_lines);
        if n_lines <= 1 {
            return (Cow::Borrowed(s), words);
        }
        let mut out = String::with_capacity(s.len());
        let mut start = 0;
        while let Some(p) = memchr::memchr(b'\n', &b[start..]) {
            let at = start + p;
            out.push_str(&s[start..at]);
            out.push(' ');
            start = at + b[at..].iter().take_while(|&&c| c == b'\n').count();
        }
        out.push_str(&s[start..]);
        return (Cow::Owned(out), words);
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    (Cow::Owned(words.join(" ")), words.len())
}

/// For text in normalized form (the only whitespace: single spaces between words and runs
/// of `\n` between lines, none at either end), the number of lines; `None` otherwise.
fn normalized_lines(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some(0);
    }
    let edge = |c: u8| c == b' ' || c == b'\n';
    if edge(b[0]) || edge(b[b.len() - 1]) {
        return None;
    }
    if memchr::memchr3(b'\t', b'\r', 0x0b, b).is_some() || memchr::memchr(0x0c, b).is_some() {
        return None;
    }
    for pat in [&b"  "[..], b" \n", b"\n "] {
        if memchr::memmem::find(b, pat).is_some() {
            return None;
        }
    }
    // Non-ASCII whitespace (U+0085, U+00A0, U+1680, U+2000-200A, U+2028/9, U+202F, U+205F,
    // U+3000) starts with one of these bytes; each candidate is decoded. (One pass per byte
    // group, so text made of such lead bytes stays linear.)
    let candidates = memchr::memchr3_iter(0xC2, 0xE1, 0xE2, b).chain(memchr::memchr_iter(0xE3, b));
    for at in candidates {
        if s.get(at..)?.chars().next().is_some_and(char::is_whitespace) {
            return None;
        }
    }
    // Lines: `\n` runs + 1.
    let runs = memchr::memchr_iter(b'\n', b)
        .filter(|&p| b[p - 1] != b'\n')
        .count();
    Some(runs + 1)
}

/// The number of words of `s`, as `split_whitespace` counts them.
pub fn word_count(s: &str) -> usize {
    match normalized_lines(s) {
        Some(lines) => normalized_words(s, lines),
        None => s.split_whitespace().count(),
    }
}

/// The words of normalized text with `lines` lines: one more than its spaces on each line.
fn normalized_words(s: &str, lines: usize) -> usize {
    match lines {
        0 => 0,
        _ => memchr::memchr_iter(b' ', s.as_bytes()).count() + lines,
    }
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
    fn words_joined_and_word_count_are_split_whitespace() {
        const PIECES: &[&str] = &[
            " ", " ", " ", "\t", "\n", "\n", "\n\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{85}",
            "\u{2028}", "\u{3000}", "\u{1680}", "\u{205f}", "a", "word", "é", "“x”", "–", "🙂",
            "\u{301}", "\u{200b}", "\u{e1}",
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..50_000 {
            let n = rng.usize(0..12);
            let s: String = (0..n).map(|_| PIECES[rng.usize(0..PIECES.len())]).collect();
            let want: Vec<&str> = s.split_whitespace().collect();
            let (joined, count) = words_joined(&s);
            assert_eq!(
                (joined.as_ref(), count),
                (want.join(" ").as_str(), want.len()),
                "{s:?}"
            );
            assert_eq!(word_count(&s), want.len(), "{s:?}");
        }
        // Text made of one lead byte (Japanese: E3 ..) is scanned in linear time.
        let ja = "日本語の声明".repeat(20_000);
        assert_eq!(word_count(&ja), 1);
        // Normalized text takes the fast path.
        let t = "Title here\n\nFirst line\nsecond “line” – end";
        assert!(normalized_lines(t).is_some());
        assert_eq!(
            words_joined(t).0,
            "Title here First line second “line” – end"
        );
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
