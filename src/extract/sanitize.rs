//! Input preparation before parsing (one linear pre-pass).
//!
//! * html5ever spends time proportional to the depth of the open-element
//!   stack for many start tags, so a document of 100,000 nested `<div>`s
//!   takes tens of seconds to parse. Real pages nest a few dozen levels; tags
//!   (never text) that would open an element deeper than [`MAX_DEPTH`] are
//!   dropped together with their end tags.
//! * Text that extraction never uses is removed so that html5ever does not
//!   tokenize it: the content of `<script>` (except JSON-LD), `<style>` and
//!   `<noscript>` elements, and comments. On the dev set that is about 45% of
//!   the bytes of a page and a third of the extraction time. The elements
//!   themselves stay (empty), so the tree has the same shape.

use std::borrow::Cow;

/// Longest input parsed, in bytes; the rest of a larger page is ignored.
/// Parsing and analysis take about 25-30 bytes of memory per input byte on
/// hostile markup, so this bounds one extraction to a few hundred MB. Real
/// article pages are far smaller (the largest page of the 93-page dev set
/// is 0.65 MB).
pub(crate) const MAX_HTML_BYTES: usize = 8 * 1024 * 1024;

/// `html` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cap_len(html: &str, max: usize) -> &str {
    if html.len() <= max {
        return html;
    }
    let mut end = max;
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    &html[..end]
}

/// Deepest nesting of (counted) elements kept before parsing.
pub(crate) const MAX_DEPTH: usize = 256;

/// Elements that are void or whose end tag is routinely omitted: they are not
/// counted, so sloppy but ordinary HTML never reaches the limit.
const UNCOUNTED: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody",
    "thead", "tfoot", "colgroup", "rb", "rt", "rtc", "rp", "html", "head", "body", "frame",
    "keygen", "basefont", "bgsound", "command", "image", "isindex", "menuitem",
];

/// Raw-text elements whose content is not markup.
/// (`noscript` too: scraper parses with scripting enabled.)
const RAW_TEXT: &[&str] = &[
    "script",
    "noscript",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "plaintext",
];

#[derive(Clone, Copy)]
struct Tag {
    start: usize,
    end: usize, // exclusive, after '>'
    closing: bool,
    self_closing: bool,
    name_start: usize,
    name_end: usize,
}

/// Scans the tag starting at `i` (`bytes[i] == b'<'`). Returns None when this
/// `<` does not start a tag (then it is text).
fn scan_tag(bytes: &[u8], i: usize) -> Option<Tag> {
    let mut j = i + 1;
    let closing = bytes.get(j) == Some(&b'/');
    if closing {
        j += 1;
    }
    if !bytes.get(j).is_some_and(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let name_start = j;
    while j < bytes.len()
        && !matches!(
            bytes[j],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'
        )
    {
        j += 1;
    }
    let name_end = j;
    let mut quote: Option<u8> = None;
    while j < bytes.len() {
        let b = bytes[j];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => {
                let self_closing = j > name_end && bytes[j - 1] == b'/';
                return Some(Tag {
                    start: i,
                    end: j + 1,
                    closing,
                    self_closing,
                    name_start,
                    name_end,
                });
            }
            None => {}
        }
        j += 1;
    }
    None
}

/// Next `b` at or after `from`, via `str::find` (memchr) when `from` is a
/// character boundary of `text`.
fn find_byte(text: &str, from: usize, b: u8) -> Option<usize> {
    match text.get(from..) {
        Some(rest) if b.is_ascii() => rest.find(char::from(b)).map(|p| p + from),
        _ => text
            .as_bytes()
            .get(from..)?
            .iter()
            .position(|&x| x == b)
            .map(|p| p + from),
    }
}

fn in_list(name: &str, list: &[&str]) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn find_ci(text: &str, from: usize, needle: &[u8]) -> Option<usize> {
    let hay = text.as_bytes();
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    // Jump between occurrences of the first byte (always punctuation here:
    // `<` or `-`) instead of comparing a window at every offset.
    let first = needle[0];
    let mut i = from;
    while let Some(at) = find_byte(text, i, first) {
        let end = at + needle.len();
        if end > hay.len() {
            return None;
        }
        if hay[at..end].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Raw-text elements whose content is dropped (JSON-LD scripts are kept).
const EMPTIED: &[&str] = &["script", "style", "noscript"];

/// Is `bytes[at..]` an end tag for `name` as html5ever sees it (`</name`
/// followed by whitespace, `/` or `>`)?
fn is_end_tag(bytes: &[u8], at: usize, name: &str) -> bool {
    let after = at + 2 + name.len();
    bytes
        .get(after)
        .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'))
}

/// Where the raw text opened before `from` ends (the start of its end tag),
/// or the end of input.
fn raw_text_end(text: &str, from: usize, name: &str) -> usize {
    let bytes = text.as_bytes();
    let mut close = String::from("</");
    close.push_str(name);
    let mut i = from;
    while let Some(at) = find_ci(text, i, close.as_bytes()) {
        if is_end_tag(bytes, at, name) {
            return at;
        }
        i = at + 1;
    }
    bytes.len()
}

/// Returns `html` prepared for parsing: tags deeper than `max_depth`
/// removed, script/style/noscript content and comments removed (borrowed
/// when nothing had to change).
pub(crate) fn prepare(html: &str, max_depth: usize) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut suppressed = 0usize;
    // Byte ranges to drop, in order.
    let mut drops: Vec<(usize, usize)> = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        let Some(at) = find_byte(html, i, b'<') else {
            break;
        };
        i = at;
        if bytes[i..].starts_with(b"<!--") {
            let start = i;
            i = match find_ci(html, i + 4, b"-->") {
                Some(e) => e + 3,
                None => bytes.len(),
            };
            drops.push((start, i));
            continue;
        }
        if bytes.get(i + 1).is_some_and(|b| *b == b'!' || *b == b'?') {
            i = find_byte(html, i, b'>').map_or(bytes.len(), |e| e + 1);
            continue;
        }
        let Some(tag) = scan_tag(bytes, i) else {
            i += 1;
            continue;
        };
        let name = html.get(tag.name_start..tag.name_end).unwrap_or("");
        i = tag.end;
        if !tag.closing && in_list(name, RAW_TEXT) {
            let content_start = i;
            let lower = name.to_ascii_lowercase();
            i = raw_text_end(html, i, &lower);
            let content = html.get(content_start..i).unwrap_or("");
            let script = lower == "script";
            let json_ld = script
                && html
                    .get(tag.start..tag.end)
                    .is_some_and(|t| t.to_ascii_lowercase().contains("ld+json"));
            // `<!--` inside a script can make html5ever skip the first
            // `</script>` (double-escaped state): leave such scripts alone.
            let escaped = script && find_ci(content, 0, b"<!--").is_some();
            if in_list(name, EMPTIED) && !json_ld && !escaped && !content.is_empty() {
                drops.push((content_start, i));
            }
            continue;
        }
        if in_list(name, UNCOUNTED) || (tag.self_closing && !tag.closing) {
            continue;
        }
        if tag.closing {
            if suppressed > 0 {
                suppressed -= 1;
                drops.push((tag.start, tag.end));
            } else {
                depth = depth.saturating_sub(1);
            }
        } else if depth >= max_depth {
            suppressed += 1;
            drops.push((tag.start, tag.end));
        } else {
            depth += 1;
        }
    }
    if drops.is_empty() {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut last = 0;
    for (s, e) in drops {
        if let Some(part) = html.get(last..s) {
            out.push_str(part);
        }
        last = e;
    }
    if let Some(part) = html.get(last..) {
        out.push_str(part);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_len_respects_char_boundaries() {
        assert_eq!(cap_len("abc", 10), "abc");
        assert_eq!(cap_len("a\u{e9}b", 2), "a");
        assert_eq!(cap_len("a\u{e9}b", 3), "a\u{e9}");
    }

    #[test]
    fn shallow_documents_are_untouched() {
        let html = "<div><p>a<p>b<ul><li>x<li>y</ul><script></script></div>";
        assert!(matches!(prepare(html, 3), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_flattened_keeping_text() {
        let html = format!("{}text{}", "<div>".repeat(10), "</div>".repeat(10));
        let out = prepare(&html, 4);
        assert_eq!(out, "<div><div><div><div>text</div></div></div></div>");
    }

    #[test]
    fn unused_raw_text_and_comments_are_emptied() {
        let html = "<head><script>if (a<b) {}</script><script type=\"application/ld+json\">{\"a\":1}</script>\
            <style>p{}</style></head><p>x<!-- c --></p><SCRIPT>var s = '</scripts>';</SCRIPT >\
            <noscript><img src=x></noscript><script><!-- <script> </script> --></script>";
        assert_eq!(
            prepare(html, 10),
            "<head><script></script><script type=\"application/ld+json\">{\"a\":1}</script>\
            <style></style></head><p>x</p><SCRIPT></SCRIPT >\
            <noscript></noscript><script><!-- <script> </script> --></script>"
        );
        // Unterminated: the rest of the input is script text.
        assert_eq!(prepare("<p>a</p><script>x<p>", 10), "<p>a</p><script>");
    }
}
