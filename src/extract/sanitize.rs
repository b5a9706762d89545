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
//! * Unless a user `body_selector` is given (it may read any attribute):
//!   attributes extraction never reads are removed from start tags (tags and
//!   attributes are most of the remaining bytes), `<link>` tags go,
//!   whitespace between two tags shrinks to one character outside
//!   `<pre>`/`<listing>`, and `<svg>` elements holding only plain SVG
//!   elements are emptied. Dev-set output is unchanged; together these cut
//!   the extraction time by about a quarter.
//! * For the generic extractor only ([`Prep::empty_junk`]): the content of
//!   page furniture elements it always discards (`nav`, `header`, `footer`,
//!   `aside`, `menu`, `figcaption`; see `generic::JUNK_TAGS`) is removed, the
//!   element itself stays. Only when the content is plainly nested (every end
//!   tag closes an element opened inside, so html5ever cannot have closed the
//!   furniture element earlier and put later text outside it) and holds
//!   nothing the metadata step reads (`h1`, `meta`, `time`, `title`,
//!   `itemprop`, JSON-LD). Furniture is about a third of a page's bytes.
//! * For site profiles ([`Prep::empty_nav`]): the same, for navigation only
//!   (`<nav>`, `role=navigation`/`menubar`): a profile renders whatever its
//!   selectors name (captions, asides, footers may be text), but navigation is
//!   never statement text. On IOM pages the menus are about half of what is
//!   left to parse; the cycle benchmark's first cycle used 21% less CPU.

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
fn is_uncounted(name: &[u8]) -> bool {
    is_void(name)
        || (is_optional_end(name) && name != b"caption")
        || matches!(
            name,
            b"html" | b"head" | b"body" | b"command" | b"isindex" | b"menuitem"
        )
}

/// Raw-text elements whose content is not markup.
/// (`noscript` too: scraper parses with scripting enabled.)
fn is_raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script"
            | b"noscript"
            | b"style"
            | b"textarea"
            | b"title"
            | b"xmp"
            | b"iframe"
            | b"noembed"
            | b"noframes"
            | b"plaintext"
    )
}

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
fn scan_tag(text: &str, i: usize) -> Option<Tag> {
    let bytes = text.as_bytes();
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
    while let Some(p) = bytes
        .get(j..)
        .and_then(|r| memchr::memchr3(b'"', b'\'', b'>', r))
    {
        j += p;
        let b = bytes[j];
        match b {
            b'"' | b'\'' => {
                // Jump to the closing quote.
                match find_byte(text, j + 1, b) {
                    Some(close) => j = close,
                    None => return None,
                }
            }
            b'>' => {
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
            _ => {}
        }
        j += 1;
    }
    None
}

/// Next `b` at or after `from`.
fn find_byte(text: &str, from: usize, b: u8) -> Option<usize> {
    let rest = text.as_bytes().get(from..)?;
    memchr::memchr(b, rest).map(|p| p + from)
}

/// `name` lower-cased into `buf`; a name longer than `buf` (never one of
/// the names looked up here) gives the empty slice.
fn lower<'b>(name: &[u8], buf: &'b mut [u8; 24]) -> &'b [u8] {
    let Some(out) = buf.get_mut(..name.len()) else {
        return &[];
    };
    out.copy_from_slice(name);
    out.make_ascii_lowercase();
    out
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
fn is_emptied(name: &[u8]) -> bool {
    matches!(name, b"script" | b"style" | b"noscript")
}

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

/// Attributes that extraction (or html5ever's tree builder) looks at; with
/// `strip_attrs` every other attribute of a start tag is removed before
/// parsing. `style` is kept only when it may hide the element.
fn is_kept_attr(name: &[u8]) -> bool {
    // color/face/size: `<font>` with them leaves foreign content;
    // encoding: `<annotation-xml encoding>` is an HTML integration point.
    matches!(
        name,
        b"class"
            | b"id"
            | b"role"
            | b"itemprop"
            | b"hidden"
            | b"aria-hidden"
            | b"content"
            | b"datetime"
            | b"name"
            | b"property"
            | b"type"
            | b"data-history-node-id"
            | b"color"
            | b"face"
            | b"size"
            | b"encoding"
    )
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Byte ranges of the attributes of start tag `tag` that extraction never
/// reads (each with its leading whitespace), appended to `drops`; returns
/// what the same pass learnt of the attributes [`prepare`] decides on. Tags
/// whose attribute syntax is unusual (quotes or `<` in a name or unquoted
/// value) are left alone, so this never changes how the tag is tokenized.
fn drop_unused_attrs(text: &str, tag: &Tag, drops: &mut Vec<(usize, usize)>) -> TagInfo {
    let bytes = text.as_bytes();
    let gt = tag.end - 1;
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut info = TagInfo::default();
    for attr in attrs(text, tag) {
        let Ok(attr) = attr else {
            return TagInfo {
                odd: true,
                ..TagInfo::default()
            };
        };
        let name = &bytes[attr.name.0..attr.name.1];
        let mut buf = [0; 24];
        let lname = lower(name, &mut buf);
        info.note(lname, attr.value);
        let keep = if lname == b"style" {
            may_hide(&bytes[attr.name.0..attr.end])
        } else {
            is_kept_attr(lname)
        };
        if !keep {
            // The leading whitespace goes too unless the next attribute
            // follows without whitespace (`a="1"b="2"`).
            let end = attr.end;
            let next_separate = end >= gt || is_ws(bytes[end]) || bytes[end] == b'/';
            found.push((
                if next_separate {
                    attr.lead
                } else {
                    attr.name.0
                },
                end,
            ));
        }
    }
    drops.extend(found);
    info
}

/// The attributes of a start tag that decide what [`prepare`] may remove
/// (first occurrence of each, as the tokenizer keeps), as value ranges.
#[derive(Debug, Default, Clone, Copy)]
struct TagInfo {
    /// Unusual syntax: nothing is known.
    odd: bool,
    hidden: bool,
    aria_hidden: Option<(usize, usize)>,
    style: Option<(usize, usize)>,
    role: Option<(usize, usize)>,
    itemprop: bool,
    name: Option<(usize, usize)>,
    property: Option<(usize, usize)>,
}

impl TagInfo {
    fn note(&mut self, lname: &[u8], value: (usize, usize)) {
        let slot = match lname {
            b"hidden" => {
                self.hidden = true;
                return;
            }
            b"itemprop" => {
                self.itemprop = true;
                return;
            }
            b"aria-hidden" => &mut self.aria_hidden,
            b"style" => &mut self.style,
            b"role" => &mut self.role,
            b"name" => &mut self.name,
            b"property" => &mut self.property,
            _ => return,
        };
        slot.get_or_insert(value);
    }
}

/// An attribute value from [`TagInfo`], when certain (no character reference).
fn value(html: &str, range: Option<(usize, usize)>) -> Option<&[u8]> {
    let v = html.as_bytes().get(range?.0..range?.1)?;
    (!v.contains(&b'&')).then_some(v)
}

/// One attribute of a start tag, as byte offsets into the input.
struct Attr {
    /// Where the whitespace before it starts.
    lead: usize,
    name: (usize, usize),
    /// The value without its quotes (empty for a bare attribute).
    value: (usize, usize),
    /// After the value (and its closing quote).
    end: usize,
}

/// The attributes of start tag `tag`, in order. An `Err` (then the end)
/// when the syntax is unusual (quotes or `<` in a name or unquoted value, an
/// unclosed quote): callers then leave the tag alone.
fn attrs<'t>(text: &'t str, tag: &Tag) -> impl Iterator<Item = Result<Attr, ()>> + 't {
    let bytes = text.as_bytes();
    let gt = tag.end - 1;
    let mut j = tag.name_end;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let lead = j;
        while j < gt && (is_ws(bytes[j]) || bytes[j] == b'/') {
            j += 1;
        }
        if j >= gt {
            return None;
        }
        let name_start = j;
        j += 1; // the first character may be `=`
        while j < gt && !is_ws(bytes[j]) && !matches!(bytes[j], b'/' | b'=') {
            j += 1;
        }
        let odd = |s: &[u8]| s.iter().any(|b| matches!(b, b'"' | b'\'' | b'<'));
        if odd(&bytes[name_start..j]) {
            done = true;
            return Some(Err(()));
        }
        let name = (name_start, j);
        let mut value = (j, j);
        let mut k = j;
        while k < gt && is_ws(bytes[k]) {
            k += 1;
        }
        if k < gt && bytes[k] == b'=' {
            k += 1;
            while k < gt && is_ws(bytes[k]) {
                k += 1;
            }
            match bytes.get(k) {
                Some(&q) if q == b'"' || q == b'\'' => match find_byte(text, k + 1, q) {
                    Some(close) if close < gt => {
                        value = (k + 1, close);
                        j = close + 1;
                    }
                    _ => {
                        done = true;
                        return Some(Err(()));
                    }
                },
                _ => {
                    let start = k;
                    while k < gt && !is_ws(bytes[k]) {
                        k += 1;
                    }
                    if odd(&bytes[start..k]) {
                        done = true;
                        return Some(Err(()));
                    }
                    value = (start, k);
                    j = k;
                }
            }
        }
        Some(Ok(Attr {
            lead,
            name,
            value,
            end: j,
        }))
    })
}

/// Could this `style` value hide the element (`display:none`, `visibility:hidden`)?
fn may_hide(value: &[u8]) -> bool {
    value
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"none") || w.eq_ignore_ascii_case(b"hidd"))
}

/// SVG elements that never make html5ever leave foreign content (nor are
/// HTML integration points with HTML inside, since only these names are
/// accepted).
fn is_plain_svg(name: &[u8]) -> bool {
    matches!(
        name,
        b"svg"
            | b"path"
            | b"g"
            | b"use"
            | b"symbol"
            | b"defs"
            | b"circle"
            | b"rect"
            | b"line"
            | b"polyline"
            | b"polygon"
            | b"ellipse"
            | b"title"
            | b"desc"
            | b"lineargradient"
            | b"radialgradient"
            | b"stop"
            | b"clippath"
            | b"mask"
            | b"pattern"
            | b"text"
            | b"tspan"
            | b"filter"
            | b"metadata"
    )
}

/// Where the content of the `<svg>` whose start tag ends at `from` ends
/// (the start of its `</svg>`), when the content holds only plain SVG
/// elements and text (no comments, CDATA or HTML tags); None otherwise.
/// Such content is never rendered nor read, so it need not be parsed.
fn svg_content_end(html: &str, from: usize) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    loop {
        let at = find_byte(html, i, b'<')?;
        if bytes.get(at + 1).is_some_and(|b| *b == b'!' || *b == b'?') {
            return None;
        }
        let Some(tag) = scan_tag(html, at) else {
            i = at + 1;
            continue;
        };
        let mut buf = [0; 24];
        let name = lower(&bytes[tag.name_start..tag.name_end], &mut buf);
        if !is_plain_svg(name) {
            return None;
        }
        if name == b"svg" {
            if tag.closing {
                if depth == 0 {
                    return Some(at);
                }
                depth -= 1;
            } else if !tag.self_closing {
                depth += 1;
            }
        }
        i = tag.end;
    }
}

/// What [`prepare`] may remove besides what it always removes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Prep {
    /// Remove attributes extraction never reads, `<link>` tags, inter-tag
    /// whitespace and plain SVG content (not with a user CSS selector).
    pub strip_attrs: bool,
    /// Remove the content of page furniture elements (generic extraction only).
    pub empty_junk: bool,
    /// Remove the content of navigation only (`<nav>`, `role=navigation`/`menubar`):
    /// for site profiles, whose selectors may name any other element.
    pub empty_nav: bool,
}

/// Void elements: never pushed on a [`JunkRegion`]'s stack.
fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"param"
            | b"source"
            | b"track"
            | b"wbr"
            | b"keygen"
            | b"frame"
            | b"basefont"
            | b"bgsound"
            | b"image"
    )
}

/// Elements whose end tag may be omitted: an end tag may close them implicitly.
fn is_optional_end(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"li"
            | b"dt"
            | b"dd"
            | b"option"
            | b"optgroup"
            | b"rb"
            | b"rt"
            | b"rp"
            | b"rtc"
            | b"tr"
            | b"td"
            | b"th"
            | b"tbody"
            | b"thead"
            | b"tfoot"
            | b"colgroup"
            | b"caption"
    )
}

/// Elements the generic extractor never renders nor counts (see
/// `render::SKIP_TAGS`) whose content is ordinary markup: emptied like
/// furniture. (Raw-text, void and foreign elements are handled elsewhere.)
/// (`select` is not here: `<input>` or `<textarea>` inside it close it.)
const SKIPPED_CONTAINERS: &[&str] = &[
    "template", "object", "canvas", "button", "audio", "video", "map", "picture", "dialog",
];

/// Table parts: inside furniture without its own `<table>` they may close it.
fn is_table_part(name: &[u8]) -> bool {
    matches!(
        name,
        b"tr" | b"td" | b"th" | b"tbody" | b"thead" | b"tfoot" | b"caption" | b"colgroup" | b"col"
    )
}

/// Is `lname` (lower case) one of the generic extractor's furniture tags (`generic::JUNK_TAGS`)?
fn is_junk_tag(lname: &[u8]) -> bool {
    super::generic::JUNK_TAGS
        .iter()
        .any(|j| j.as_bytes() == lname)
}

/// May a start tag of another name close this element (`<div>` closes a `<p>`, `<h3>` an
/// `<h2>`, `<li>` an `<li>`, `<input>` a `<select>`...), putting what follows outside it?
/// Such an element is never the root of an emptied region.
fn closed_by_other_start(lname: &[u8]) -> bool {
    is_optional_end(lname)
        || matches!(
            lname,
            b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"select"
        )
}

/// Is the start tag named `lname` (attributes in `info`) an element the
/// generic extractor always discards (`generic::is_junk` without its
/// class/id rules)? Uncertain attribute syntax counts as no.
fn starts_junk(html: &str, info: &TagInfo, lname: &[u8]) -> bool {
    if matches!(lname, b"html" | b"head" | b"body") || info.odd {
        return false;
    }
    if is_junk_tag(lname) || SKIPPED_CONTAINERS.iter().any(|j| j.as_bytes() == lname) {
        return true;
    }
    if closed_by_other_start(lname) {
        return false;
    }
    if info.hidden {
        return true;
    }
    if value(html, info.aria_hidden).is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"true")) {
        return true;
    }
    if let Some(style) = value(html, info.style) {
        let s: Vec<u8> = style
            .iter()
            .filter(|c| !c.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        if memchr::memmem::find(&s, b"display:none").is_some()
            || memchr::memmem::find(&s, b"visibility:hidden").is_some()
        {
            return true;
        }
    }
    value(html, info.role).is_some_and(|r| {
        let r = r.trim_ascii();
        super::generic::JUNK_ROLES
            .iter()
            .any(|j| j.as_bytes().eq_ignore_ascii_case(r))
    })
}

/// Is the start tag named `lname` navigation: `<nav>`, or an element with
/// `role=navigation` or `role=menubar` that no other start tag may close?
fn starts_nav(html: &str, info: &TagInfo, lname: &[u8]) -> bool {
    if info.odd {
        return false;
    }
    if lname == b"nav" {
        return true;
    }
    if matches!(lname, b"html" | b"head" | b"body") || closed_by_other_start(lname) {
        return false;
    }
    value(html, info.role).is_some_and(|r| {
        let r = r.trim_ascii();
        r.eq_ignore_ascii_case(b"navigation") || r.eq_ignore_ascii_case(b"menubar")
    })
}

/// Does a `<meta>` start tag (attributes in `info`) carry something the
/// metadata step reads (see `meta::TITLE_METAS`, `meta::DATE_METAS`)?
/// Uncertain syntax counts as yes.
fn meta_is_read(html: &str, info: &TagInfo) -> bool {
    if info.odd || info.itemprop {
        return true;
    }
    let read = super::meta::TITLE_METAS
        .iter()
        .chain(super::meta::DATE_METAS)
        .copied();
    for (key, wanted) in read {
        let range = match key {
            "name" => info.name,
            "property" => info.property,
            _ => continue, // itemprop: handled above
        };
        if range.is_some() && value(html, range).is_none_or(|v| v == wanted.as_bytes()) {
            return true;
        }
    }
    false
}

/// Elements (or an attribute) the metadata step reads: furniture holding
/// one keeps its content.
fn is_meta_relevant(name: &[u8]) -> bool {
    matches!(name, b"h1" | b"meta" | b"time" | b"title")
}

/// A furniture element whose content is being scanned.
struct JunkRegion {
    /// Where its content starts (after its start tag).
    content_start: usize,
    /// `drops` length when the content started: drops inside are replaced
    /// by one drop of the whole content.
    drop_mark: usize,
    /// Open elements, the furniture element first, as byte ranges of their
    /// names in the input.
    open: Vec<(usize, usize)>,
    /// A start tag of the root's own name closes the root (`<button>` in a
    /// button, `<a>` in an `<a>`); furniture elements are not closed so.
    closed_by_own_name: bool,
}

enum JunkStep {
    /// Still inside.
    Inside,
    /// Its end tag: the content ends here.
    End,
    /// Not plainly nested, or holds something metadata reads: leave it.
    Abandon,
}

impl JunkRegion {
    fn open_named(&self, bytes: &[u8], name: &[u8]) -> bool {
        self.open
            .iter()
            .any(|&(s, e)| bytes[s..e].eq_ignore_ascii_case(name))
    }

    fn step(&mut self, html: &str, tag: &Tag, info: &TagInfo, lname: &[u8]) -> JunkStep {
        let bytes = html.as_bytes();
        if !tag.closing {
            if is_meta_relevant(lname) || info.itemprop || info.odd {
                return JunkStep::Abandon;
            }
            if is_table_part(lname) && !self.open_named(bytes, b"table") {
                return JunkStep::Abandon;
            }
            let (rs, re) = self.open[0];
            if self.closed_by_own_name && bytes[rs..re].eq_ignore_ascii_case(lname) {
                return JunkStep::Abandon;
            }
            if !is_void(lname) && !tag.self_closing {
                // Deeper than real pages nest: not worth the (quadratic) bookkeeping.
                if self.open.len() >= MAX_DEPTH {
                    return JunkStep::Abandon;
                }
                self.open.push((tag.name_start, tag.name_end));
            }
            return JunkStep::Inside;
        }
        let Some(k) = self
            .open
            .iter()
            .rposition(|&(s, e)| bytes[s..e].eq_ignore_ascii_case(lname))
        else {
            // A stray `</p>` or `</br>` makes an element in place; any
            // other stray end tag may close an element outside.
            return if matches!(lname, b"p" | b"br") {
                JunkStep::Inside
            } else {
                JunkStep::Abandon
            };
        };
        let implied_ok = self.open[k + 1..].iter().all(|&(s, e)| {
            let mut buf = [0; 24];
            is_optional_end(lower(&bytes[s..e], &mut buf))
        });
        if !implied_ok {
            return JunkStep::Abandon;
        }
        self.open.truncate(k);
        if k == 0 {
            JunkStep::End
        } else {
            JunkStep::Inside
        }
    }
}

/// Returns `html` prepared for parsing: tags deeper than `max_depth`
/// removed, script/style/noscript content and comments removed, and, with
/// `strip_attrs`, attributes extraction never reads ([`is_kept_attr`]) removed, and with
/// `empty_junk` furniture content removed (borrowed when nothing had to change).
pub(crate) fn prepare(html: &str, max_depth: usize, prep: Prep) -> Cow<'_, str> {
    let Prep {
        strip_attrs,
        empty_junk,
        empty_nav,
    } = prep;
    let mut junk: Option<JunkRegion> = None;
    let bytes = html.as_bytes();
    let mut depth = 0usize;
    let mut suppressed = 0usize;
    // Byte ranges to drop, in order.
    let mut drops: Vec<(usize, usize)> = Vec::new();
    let mut i = 0usize;
    // End of the last tag, and how many `<pre>`/`<listing>` are open (their
    // whitespace is content).
    let mut last_tag_end = usize::MAX;
    let mut pre_open = 0usize;
    while i < bytes.len() {
        let Some(at) = find_byte(html, i, b'<') else {
            break;
        };
        // Whitespace between two tags: one character means the same
        // outside preformatted text.
        if strip_attrs
            && i == last_tag_end
            && pre_open == 0
            && at - i >= 2
            && bytes[i..at].iter().all(|&b| is_ws(b))
        {
            drops.push((i + 1, at));
        }
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
        let Some(tag) = scan_tag(html, i) else {
            i += 1;
            continue;
        };
        let name = html.get(tag.name_start..tag.name_end).unwrap_or("");
        i = tag.end;
        let mut buf = [0; 24];
        let lname = lower(name.as_bytes(), &mut buf);
        let raw_text = !tag.closing && is_raw_text(lname);
        let attr_mark = drops.len();
        let info = if strip_attrs && !tag.closing && !raw_text {
            drop_unused_attrs(html, &tag, &mut drops)
        } else {
            TagInfo::default()
        };
        if raw_text {
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
            if is_emptied(lname) && !json_ld && !escaped && !content.is_empty() {
                drops.push((content_start, i));
            }
            if json_ld || lname == b"title" {
                junk = None;
            }
            continue;
        }
        last_tag_end = tag.end;
        // Void tags nothing reads go entirely: `<link>` (never rendered, never read), and
        // for the generic extractor a `<meta>` no metadata rule reads.
        let unread = match lname {
            b"link" => strip_attrs,
            b"meta" => empty_junk && !meta_is_read(html, &info),
            _ => false,
        };
        if unread && !tag.closing {
            drops.truncate(attr_mark);
            drops.push((tag.start, tag.end));
            continue;
        }
        if let Some(region) = junk.as_mut() {
            match region.step(html, &tag, &info, lname) {
                JunkStep::Inside => {}
                JunkStep::Abandon => junk = None,
                JunkStep::End => {
                    let (start, mark) = (region.content_start, region.drop_mark);
                    drops.truncate(mark);
                    if tag.start > start {
                        drops.push((start, tag.start));
                    }
                    junk = None;
                }
            }
        } else if (empty_junk || empty_nav)
            && !tag.closing
            && !tag.self_closing
            && !is_void(lname)
            && if empty_junk {
                starts_junk(html, &info, lname)
            } else {
                starts_nav(html, &info, lname)
            }
        {
            junk = Some(JunkRegion {
                content_start: tag.end,
                drop_mark: drops.len(),
                open: vec![(tag.name_start, tag.name_end)],
                closed_by_own_name: !is_junk_tag(lname),
            });
        }
        if matches!(lname, b"pre" | b"listing") {
            if tag.closing {
                pre_open = pre_open.saturating_sub(1);
            } else {
                pre_open += 1;
            }
        }
        if is_uncounted(lname) || (tag.self_closing && !tag.closing) {
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
            drops.truncate(attr_mark);
            suppressed += 1;
            drops.push((tag.start, tag.end));
        } else {
            depth += 1;
            if strip_attrs
                && lname == b"svg"
                && let Some(end) = svg_content_end(html, i)
            {
                if end > i {
                    drops.push((i, end));
                }
                i = end;
            }
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

    const ATTRS: Prep = Prep {
        strip_attrs: true,
        empty_junk: false,
        empty_nav: false,
    };
    const GENERIC: Prep = Prep {
        strip_attrs: true,
        empty_junk: true,
        empty_nav: false,
    };

    #[test]
    fn plainly_nested_furniture_is_emptied() {
        let html = "<header><nav><ul><li><a href=/>Home<li>About</ul></nav></header><p>Text</p>\
            <aside><div>Related <b>x</b></div></aside><footer>(c)</footer>";
        assert_eq!(
            prepare(html, 50, GENERIC),
            "<header></header><p>Text</p><aside></aside><footer></footer>"
        );
        // Not for profiles and selectors.
        assert!(prepare(html, 50, ATTRS).contains("Home"));
    }

    #[test]
    fn profiles_lose_navigation_only() {
        const PROFILE: Prep = Prep {
            strip_attrs: true,
            empty_junk: false,
            empty_nav: true,
        };
        let html = "<header><nav><ul><li><a href=/>Home<li>About</ul></nav></header>\
            <div role=navigation><a>Menu</a></div><ul role=menubar><li>Bar</ul>\
            <figure><img><figcaption>Caption</figcaption></figure>\
            <aside>Fact box</aside><footer>Note</footer><div hidden>x</div>";
        assert_eq!(
            prepare(html, 50, PROFILE),
            "<header><nav></nav></header><div role=navigation></div><ul role=menubar></ul>\
            <figure><img><figcaption>Caption</figcaption></figure>\
            <aside>Fact box</aside><footer>Note</footer><div hidden>x</div>"
        );
        // A heading or an element a start tag may close is never a region root.
        let html = "<h2 role=navigation>x</h2><li role=navigation>y<li>z";
        assert_eq!(prepare(html, 50, PROFILE), html);
    }

    #[test]
    fn hidden_and_role_furniture_and_unread_metas_go() {
        let html = "<head><meta name=viewport content=x><meta property=\"og:title\" content=T>\
            </head><div role=navigation><a>Home</a></div><div aria-hidden=\"true\">x</div>\
            <div style=\"DISPLAY: none\">y</div><div hidden>z</div><button>b</button>\
            <div role=main>Text</div>";
        assert_eq!(
            prepare(html, 50, GENERIC),
            "<head><meta property=\"og:title\" content=T></head><div role=navigation></div>\
            <div aria-hidden=\"true\"></div><div style=\"DISPLAY: none\"></div><div hidden></div>\
            <button></button><div role=main>Text</div>"
        );
        // A character reference may hide the value: left alone.
        let html = "<div role=\"navigation&#32;\">x</div>";
        assert_eq!(prepare(html, 50, GENERIC), html);
    }

    #[test]
    fn skipped_containers_are_never_rendered() {
        for name in SKIPPED_CONTAINERS {
            assert!(super::super::render::SKIP_TAGS.contains(name), "{name}");
        }
    }

    #[test]
    fn furniture_with_metadata_or_odd_nesting_is_kept() {
        // The h1 keeps the header; the nav inside it is still emptied.
        let html = "<header><h1>Title</h1><nav><a>Home</a></nav></header>";
        assert_eq!(
            prepare(html, 50, GENERIC),
            "<header><h1>Title</h1><nav></nav></header>"
        );
        for kept in [
            "<footer><time datetime=2024-01-02>2 Jan</time></footer>",
            "<footer><span itemprop=datePublished>2 Jan</span></footer>",
            "<footer><meta property=og:title content=y></footer>",
            "<footer><script type=\"application/ld+json\">{}</script></footer>",
            // `</div>` closes the nav in html5ever: the text after it is content.
            "<div><nav><a>Home</a></div><p>Article text</p></nav>",
            // Misnested: the adoption agency may move content.
            "<nav><b><i>x</b></i></nav>",
            // Never closed.
            "<aside><p>Text",
            // Deeper than MAX_DEPTH inside.
            &format!("<nav>{}</nav>", "<p>".repeat(300)),
            // Closed by a start tag of another name: the text after is content.
            "<p hidden>x<div>Article text</div></p>",
            "<h2 aria-hidden=true>x<h3>Article text</h3></h2>",
            // Closed by a start tag of the same name.
            "<button>x<button>y</button>Article text</button>",
            "<a hidden>x<a>Article text</a></a>",
            "<select><option>a<input>Article text</select>",
            // A table part may close it (foster parenting).
            "<table><nav><tr><td>Cell</td></tr></nav></table>",
        ] {
            assert_eq!(prepare(kept, 50, GENERIC), kept);
        }
    }

    #[test]
    fn cap_len_respects_char_boundaries() {
        assert_eq!(cap_len("abc", 10), "abc");
        assert_eq!(cap_len("a\u{e9}b", 2), "a");
        assert_eq!(cap_len("a\u{e9}b", 3), "a\u{e9}");
    }

    #[test]
    fn shallow_documents_are_untouched() {
        let html = "<div><p>a<p>b<ul><li>x<li>y</ul><script></script></div>";
        assert!(matches!(
            prepare(html, 3, Prep::default()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn deep_nesting_is_flattened_keeping_text() {
        let html = format!("{}text{}", "<div>".repeat(10), "</div>".repeat(10));
        let out = prepare(&html, 4, Prep::default());
        assert_eq!(out, "<div><div><div><div>text</div></div></div></div>");
    }

    #[test]
    fn unused_raw_text_and_comments_are_emptied() {
        let html = "<head><script>if (a<b) {}</script><script type=\"application/ld+json\">{\"a\":1}</script>\
            <style>p{}</style></head><p>x<!-- c --></p><SCRIPT>var s = '</scripts>';</SCRIPT >\
            <noscript><img src=x></noscript><script><!-- <script> </script> --></script>";
        assert_eq!(
            prepare(html, 10, Prep::default()),
            "<head><script></script><script type=\"application/ld+json\">{\"a\":1}</script>\
            <style></style></head><p>x</p><SCRIPT></SCRIPT >\
            <noscript></noscript><script><!-- <script> </script> --></script>"
        );
        // Unterminated: the rest of the input is script text.
        assert_eq!(
            prepare("<p>a</p><script>x<p>", 10, Prep::default()),
            "<p>a</p><script>"
        );
    }

    #[test]
    fn unused_attributes_links_and_inter_tag_whitespace_go() {
        let html = "<head><link rel=x href=y><meta property=\"og:title\" content=\"T\"></head>\n  \n\
            <div data-x=\"1\" class=\"a\"data-y='2'  id=b style=\"color:red\"><a href=u>x</a> <b>y</b></div>\
            <p style=\"display: NONE\" hidden>z</p>\n\n<pre>\n  \n</pre>";
        assert_eq!(
            prepare(html, 10, ATTRS),
            "<head><meta property=\"og:title\" content=\"T\"></head>\n\
            <div class=\"a\"  id=b><a>x</a> <b>y</b></div>\
            <p style=\"display: NONE\" hidden>z</p>\n<pre>\n  \n</pre>"
        );
        // Unusual attribute syntax is left alone.
        let odd = "<div a\"b=1 data-x=2>t</div>";
        assert_eq!(prepare(odd, 10, ATTRS), odd);
        // Not with a user selector (it may use any attribute).
        let sel = "<div data-x=1>t</div>";
        assert_eq!(prepare(sel, 10, Prep::default()), sel);
    }

    #[test]
    fn plain_svg_content_is_emptied() {
        let html = "<p>a<svg class=i><path d=\"M0\"/><g><use href=#x></use></g></svg>b</p>";
        assert_eq!(prepare(html, 10, ATTRS), "<p>a<svg class=i></svg>b</p>");
        // HTML inside (it would end the SVG) keeps the content.
        let html = "<svg><path/><p>text</p></svg>";
        assert_eq!(prepare(html, 10, ATTRS), html);
    }
}
