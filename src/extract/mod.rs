//! Article extraction: turns a fetched HTML page into the statement text that
//! presswatch stores and compares.
//!
//! Three layers:
//! 1. an explicit CSS `body_selector` (per watched URL) overrides everything;
//! 2. site profiles ([`profiles`]) for the IOM and UN sites, kept as data;
//! 3. a generic, readability-style extractor ([`generic`]) for every other page.
//!
//! Text form of `body` (see [`render`]): paragraphs separated by one blank line,
//! headings are their own paragraph, list items are `- item` lines (items of one
//! list separated by a single newline), a single `<br>` is a newline inside the
//! paragraph and two or more consecutive `<br>` start a new paragraph. The
//! result is passed through [`normalize_text`] (Unicode NFC, collapsed
//! whitespace). The title is never repeated at the start of the body.
//!
//! Hostile input: pages are cut at 8 MiB and nesting deeper than 256
//! elements is flattened before parsing (see [`sanitize`]); traversals are
//! iterative, so no input panics or overflows the stack.

mod dates;
mod generic;
mod meta;
pub mod profiles;
mod render;
mod sanitize;

use scraper::{Html, Selector};
use unicode_normalization::UnicodeNormalization;

/// Bump whenever extraction output may change for the same HTML.
pub const EXTRACTOR_VERSION: u32 = 5;

/// The extracted statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Article {
    pub title: String,
    /// ISO 8601 date (`YYYY-MM-DD`) or datetime (RFC 3339).
    pub published: Option<String>,
    pub body: String,
    /// Profile name, `"selector"` when `body_selector` was used, or `"generic"`.
    pub profile: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("no article text found")]
    Empty,
    #[error("invalid CSS selector {0:?}: {1}")]
    BadSelector(String, String),
}

/// Extract the article of `html` fetched from `url`.
///
/// `body_selector` (a CSS selector list) overrides profiles and the generic
/// extractor; all matching elements (outermost only) are rendered in document
/// order. An invalid selector gives [`ExtractError::BadSelector`].
pub fn extract(
    html: &str,
    url: &url::Url,
    body_selector: Option<&str>,
) -> Result<Article, ExtractError> {
    extract_for_source(html, url, body_selector, None)
}

/// [`extract`] with an optional forced profile: `profile` names an entry of
/// [`profiles::PROFILES`] to use whatever the host (e.g. `"iom"` for a
/// mirror), or `"generic"` to skip profiles. An unknown name (config
/// validation rejects those) falls back to the host's profile.
pub fn extract_for_source(
    html: &str,
    url: &url::Url,
    body_selector: Option<&str>,
    profile: Option<&str>,
) -> Result<Article, ExtractError> {
    let forced = profile.map(|name| (name, profiles::PROFILES.iter().find(|p| p.name == name)));
    let profile = match forced {
        Some(("generic", _)) => None,
        Some((_, Some(p))) => Some(p),
        _ => url.host_str().and_then(profiles::profile_for_host),
    };
    // Parse cost in html5ever grows quadratically with element nesting depth,
    // so pathological nesting is flattened first (text is kept).
    // Memory grows with input size: very large pages are cut.
    let html = sanitize::cap_len(html, sanitize::MAX_HTML_BYTES);
    let prep = sanitize::Prep {
        strip_attrs: body_selector.is_none(),
        // Furniture is never part of a generic extraction. A profile renders
        // what its selectors name, which may hold any element.
        empty_junk: body_selector.is_none() && profile.is_none(),
        // Navigation is never statement text, whatever a profile selects.
        empty_nav: body_selector.is_none(),
    };
    let html = sanitize::prepare(html, sanitize::MAX_DEPTH, prep);
    let doc = Html::parse_document(&html);
    let meta = meta::Meta::scan(&doc);

    if let Some(sel) = body_selector {
        let selector = Selector::parse(sel)
            .map_err(|e| ExtractError::BadSelector(sel.to_string(), e.to_string()))?;
        let title = meta::title(&doc, &meta, None);
        let blocks = render::render_matches(&doc, &[&selector], &render::no_skip);
        let body = finish_body(blocks, &title, None);
        if body.is_empty() {
            return Err(ExtractError::Empty);
        }
        return Ok(Article {
            published: meta::published(&doc, &meta, None),
            title,
            body,
            profile: "selector".to_string(),
        });
    }

    if let Some(p) = profile {
        let title = meta::title(&doc, &meta, Some(p));
        if let Some(body) = profiles::extract_body(&doc, p, &title) {
            return Ok(Article {
                published: meta::published(&doc, &meta, Some(p)),
                title,
                body,
                profile: p.name.to_string(),
            });
        }
    }

    let title = meta::title(&doc, &meta, None);
    let body = generic::extract_body(&doc, &meta, &title);
    if body.is_empty() {
        return Err(ExtractError::Empty);
    }
    Ok(Article {
        published: meta::published(&doc, &meta, None),
        title,
        body,
        profile: "generic".to_string(),
    })
}

/// Name of the site profile that applies to `url`'s host, if any.
pub fn profile_name(url: &url::Url) -> Option<&'static str> {
    url.host_str()
        .and_then(profiles::profile_for_host)
        .map(|p| p.name)
}

/// Joins rendered blocks, cuts at a "stop before" paragraph, drops leading
/// blocks that repeat the title (blocks come normalized, so the text is).
pub(crate) fn finish_body(
    blocks: Vec<render::Block>,
    title: &str,
    stop_before: Option<&[&str]>,
) -> String {
    let mut blocks = blocks;
    if let Some(prefixes) = stop_before
        && let Some(pos) = blocks.iter().position(|b| {
            let t = b.text.trim_start();
            prefixes
                .iter()
                .any(|p| t.to_lowercase().starts_with(&p.to_lowercase()))
        })
    {
        blocks.truncate(pos);
    }
    // Trailing separators such as "* ** ***" carry no text.
    while blocks
        .last()
        .is_some_and(|b| !b.text.chars().any(char::is_alphanumeric))
    {
        blocks.pop();
    }
    let title_key = comparable(title);
    if !title_key.is_empty() {
        // Only the first few blocks: a title repeated deep inside the text is content.
        let title_chars = title_key.chars().count();
        let mut i = 0;
        let mut seen = 0;
        while i < blocks.len() && seen < 3 {
            // A repeat is never longer than the title; lower-casing never shortens a text
            // in chars, so a block with more non-space chars than the title is no repeat.
            let longer = blocks[i]
                .text
                .chars()
                .filter(|c| !c.is_whitespace())
                .nth(title_chars)
                .is_some();
            if !longer && repeats_title(&comparable(&blocks[i].text), &title_key) {
                blocks.remove(i);
            } else {
                i += 1;
            }
            seen += 1;
        }
    }
    // Every block is already normalized (see `render`), and joining normalized blocks with
    // line breaks keeps the text normalized.
    let body = render::join_blocks(&blocks);
    debug_assert_eq!(normalize_text(&body), body);
    body
}

/// A block repeats the title when equal to it, or when the title is the
/// block plus a ` | site`-style suffix (og:title and `<h1>` often differ so).
/// The reverse is not accepted: a lead paragraph may start with a dateline
/// equal to the title.
fn repeats_title(block: &str, title: &str) -> bool {
    block == title
        || (block.chars().count() >= 10
            && title.strip_prefix(block).is_some_and(|rest| {
                [" | ", " - ", " – ", " — ", " :: ", " · "]
                    .iter()
                    .any(|sep| rest.starts_with(sep))
            }))
}

/// Lower-cased, whitespace-collapsed form used to compare a block with the title.
pub(crate) fn comparable(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Decode raw response bytes: charset from Content-Type header, else
/// `<meta charset>`/`<meta http-equiv>` in the first 1024 bytes, else BOM,
/// else UTF-8 (lossy). Uses encoding_rs. Never panics.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    decode_html_borrowed(bytes, content_type).into_owned()
}

/// [`decode_html`] without a copy when the bytes already are the text (UTF-8, no BOM).
pub fn decode_html_borrowed<'a>(
    bytes: &'a [u8],
    content_type: Option<&str>,
) -> std::borrow::Cow<'a, str> {
    let from_header = content_type.and_then(charset_from_content_type);
    let encoding = from_header
        .or_else(|| sniff_meta_charset(&bytes[..bytes.len().min(1024)]))
        .or_else(|| encoding_rs::Encoding::for_bom(bytes).map(|(e, _)| e))
        .unwrap_or(encoding_rs::UTF_8);
    // A BOM, when present, still wins inside `decode` (WHATWG behaviour) and is removed.
    let (text, _, _) = encoding.decode(bytes);
    text
}

fn charset_from_content_type(ct: &str) -> Option<&'static encoding_rs::Encoding> {
    ct.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            encoding_rs::Encoding::for_label(v.as_bytes())
        } else {
            None
        }
    })
}

fn sniff_meta_charset(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    // ASCII-compatible view; bytes >= 0x80 become U+FFFD, which never matches.
    let text = String::from_utf8_lossy(head);
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#"(?i)<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)"#)
            .expect("static regex")
    });
    let label = re.captures(&text)?.get(1)?.as_str();
    let enc = encoding_rs::Encoding::for_label(label.as_bytes())?;
    // A page cannot declare itself UTF-16 in ASCII; WHATWG maps that to UTF-8.
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        Some(encoding_rs::UTF_8)
    } else {
        Some(enc)
    }
}

/// Unicode NFC + whitespace collapsed inside each paragraph, paragraphs
/// separated by exactly one blank line, no leading/trailing blank lines.
/// Idempotent. Used by the store to compare versions.
///
/// Lines inside a paragraph (list items, `<br>`) are kept; every run of
/// whitespace inside a line (including NBSP and other Unicode spaces) becomes
/// one space and lines are trimmed. A line that is empty after trimming is a
/// paragraph break.
pub fn normalize_text(s: &str) -> String {
    collapse_whitespace(&nfc(s))
}

/// `s` in Unicode NFC (borrowed when it already is, as most text is).
pub(crate) fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    // The quick check avoids recomposing. An ASCII prefix is NFC and leaves the check in
    // its initial state, so the check starts after it.
    match s.bytes().position(|b| !b.is_ascii()) {
        None => std::borrow::Cow::Borrowed(s),
        Some(i) => match unicode_normalization::is_nfc_quick(s[i..].chars()) {
            unicode_normalization::IsNormalized::Yes => std::borrow::Cow::Borrowed(s),
            _ => std::borrow::Cow::Owned(s.nfc().collect()),
        },
    }
}

/// The whitespace rule of [`normalize_text`]: the words of each line (as `str::lines` and
/// `split_whitespace` see them) joined by one space, consecutive lines by `\n`, lines
/// separated by blank lines by `\n\n`; no blank line at either end. Copies runs of word
/// bytes at once instead of char by char.
/// `char::is_whitespace` for an ASCII byte (`u8::is_ascii_whitespace` leaves out U+000B).
pub(crate) fn ascii_whitespace(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

fn collapse_whitespace(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut para_open = false;
    let mut pending_break = false;
    let mut line_has_word = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            if !line_has_word && para_open {
                pending_break = true;
            }
            line_has_word = false;
            i += 1;
            continue;
        }
        // Whitespace other than '\n' (ASCII, or any Unicode White_Space char).
        let ws_len = if b.is_ascii() {
            usize::from(ascii_whitespace(b))
        } else {
            s[i..]
                .chars()
                .next()
                .filter(|c| c.is_whitespace())
                .map_or(0, char::len_utf8)
        };
        if ws_len > 0 {
            i += ws_len;
            continue;
        }
        // A word: up to the next whitespace.
        let start = i;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                if ascii_whitespace(b) {
                    break;
                }
                i += 1;
            } else {
                match s[i..].chars().next() {
                    Some(c) if !c.is_whitespace() => i += c.len_utf8(),
                    _ => break,
                }
            }
        }
        if line_has_word {
            out.push(' ');
        } else {
            if para_open {
                out.push_str(if pending_break { "\n\n" } else { "\n" });
            }
            para_open = true;
            pending_break = false;
            line_has_word = true;
        }
        out.push_str(&s[start..i]);
    }
    out
}

#[cfg(test)]
mod tests;
