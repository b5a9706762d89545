//! Turns an element subtree into text blocks (paragraphs and list items).
//!
//! Traversal is iterative (ego_tree `traverse`), so depth is never a problem.
//! Rules:
//! * block elements (`p`, `div`, headings, `blockquote`, `tr`, ...) end the
//!   current paragraph; inside a list item they only insert a space;
//! * `li` becomes a `- item` block; consecutive items of one list (nested
//!   lists included) are joined by a single newline;
//! * one `<br>` is a newline inside the paragraph, two or more consecutive
//!   `<br>` are a paragraph break;
//! * `script`, `style`, `template`, `noscript`, form controls, media and
//!   hidden elements (`hidden`, `aria-hidden="true"`, `display:none`) are skipped.

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use rustc_hash::FxHashSet as HashSet;
use scraper::{ElementRef, Html, Node, Selector};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Para,
    /// List item; the id is the outermost list it belongs to.
    Item(NodeId),
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub text: String,
    pub kind: Kind,
}

/// Never rendered, whatever the context.
pub(crate) const SKIP_TAGS: &[&str] = &[
    "script", "style", "template", "noscript", "head", "title", "meta", "link", "svg", "math",
    "iframe", "object", "embed", "canvas", "button", "select", "option", "input", "textarea",
    "audio", "video", "source", "track", "map", "img", "picture", "dialog",
];

pub(crate) const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "caption",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "legend",
    "hr",
    "address",
    "details",
    "summary",
    "center",
    "dl",
    "dt",
    "dd",
    "body",
    "html",
    "hgroup",
    "menu",
    "output",
    "li",
    "ul",
    "ol",
];

/// Attribute lookup without interning `name` (scraper's `Element::attr`
/// builds an atom per call, which dominated profiles on large pages).
pub(crate) fn attr<'a>(el: &'a scraper::node::Element, name: &str) -> Option<&'a str> {
    el.attrs().find(|(k, _)| *k == name).map(|(_, v)| v)
}

pub(crate) fn is_hidden(el: &scraper::node::Element) -> bool {
    if attr(el, "hidden").is_some() {
        return true;
    }
    if attr(el, "aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return true;
    }
    if let Some(style) = attr(el, "style") {
        let s: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if s.contains("display:none") || s.contains("visibility:hidden") {
            return true;
        }
    }
    false
}

/// A skip predicate that skips nothing beyond the built-in rules.
pub(crate) fn no_skip(_: &ElementRef) -> bool {
    false
}

struct State {
    blocks: Vec<Block>,
    buf: String,
    list_stack: Vec<NodeId>,
    li_depth: usize,
    pre_depth: usize,
}

impl State {
    fn kind(&self) -> Kind {
        match (self.li_depth, self.list_stack.first()) {
            (d, Some(id)) if d > 0 => Kind::Item(*id),
            _ => Kind::Para,
        }
    }

    fn flush(&mut self) {
        let raw = std::mem::take(&mut self.buf);
        let kind = self.kind();
        match kind {
            Kind::Item(_) => {
                let t = raw.split_whitespace().collect::<Vec<_>>().join(" ");
                if !t.is_empty() {
                    self.blocks.push(Block {
                        text: format!("- {}", super::nfc(&t)),
                        kind,
                    });
                }
            }
            Kind::Para => {
                let t = super::normalize_text(&raw);
                if !t.is_empty() {
                    self.blocks.push(Block { text: t, kind });
                }
            }
        }
    }

    /// Appends `text`, each run of whitespace (except U+00A0) as one space. Runs of other
    /// characters are copied at once.
    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.buf.push_str(text);
            return;
        }
        let mut last_space = self.buf.ends_with([' ', '\n']) || self.buf.is_empty();
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut start = 0; // of the run of non-whitespace being scanned
        while i < bytes.len() {
            let b = bytes[i];
            // Length of the whitespace char at `i` (0: not whitespace).
            let ws = if b.is_ascii() {
                if super::ascii_whitespace(b) {
                    1
                } else {
                    i += 1;
                    continue;
                }
            } else {
                let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                if c.is_whitespace() && c != '\u{a0}' {
                    c.len_utf8()
                } else {
                    i += c.len_utf8();
                    continue;
                }
            };
            if start < i {
                self.buf.push_str(&text[start..i]);
                last_space = false;
            }
            if !last_space {
                self.buf.push(' ');
                last_space = true;
            }
            i += ws;
            start = i;
        }
        if start < bytes.len() {
            self.buf.push_str(&text[start..]);
        }
    }
}

/// Renders `root` (which itself is never skipped by `skip`).
pub(crate) fn render(root: ElementRef, skip: &dyn Fn(&ElementRef) -> bool) -> Vec<Block> {
    let mut st = State {
        blocks: Vec::new(),
        buf: String::new(),
        list_stack: Vec::new(),
        li_depth: 0,
        pre_depth: 0,
    };
    let root_id = root.id();
    let mut skipping: Option<NodeId> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(t) => st.push_text(t),
                    Node::Element(el) => {
                        let name = el.name();
                        if name == "br" {
                            st.buf.push('\n');
                            continue;
                        }
                        let skipped = SKIP_TAGS.contains(&name)
                            || is_hidden(el)
                            || (node.id() != root_id
                                && ElementRef::wrap(node).is_some_and(|e| skip(&e)));
                        if skipped {
                            skipping = Some(node.id());
                            continue;
                        }
                        open_element(&mut st, name, node.id());
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(id) = skipping {
                    if id == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                if let Node::Element(el) = node.value() {
                    close_element(&mut st, el.name());
                }
            }
        }
    }
    st.flush();
    st.blocks
}

fn open_element(st: &mut State, name: &str, id: NodeId) {
    match name {
        "ul" | "ol" | "menu" => {
            st.flush();
            st.list_stack.push(id);
        }
        "li" => {
            st.flush();
            st.li_depth += 1;
        }
        "pre" => {
            st.flush();
            st.pre_depth += 1;
        }
        "td" | "th" => st.buf.push(' '),
        _ if BLOCK_TAGS.contains(&name) => {
            if st.li_depth > 0 {
                st.buf.push(' ');
            } else {
                st.flush();
            }
        }
        _ => {}
    }
}

fn close_element(st: &mut State, name: &str) {
    match name {
        "ul" | "ol" | "menu" => {
            st.flush();
            st.list_stack.pop();
        }
        "li" => {
            st.flush();
            st.li_depth = st.li_depth.saturating_sub(1);
        }
        "pre" => {
            st.flush();
            st.pre_depth = st.pre_depth.saturating_sub(1);
        }
        "td" | "th" => st.buf.push(' '),
        _ if BLOCK_TAGS.contains(&name) => {
            if st.li_depth > 0 {
                st.buf.push(' ');
            } else {
                st.flush();
            }
        }
        _ => {}
    }
}

/// Renders every outermost element matched by any of `selectors`, in document order.
pub(crate) fn render_matches(
    doc: &Html,
    selectors: &[&Selector],
    skip: &dyn Fn(&ElementRef) -> bool,
) -> Vec<Block> {
    let mut ids: HashSet<NodeId> = HashSet::default();
    for sel in selectors {
        ids.extend(doc.select(sel).map(|e| e.id()));
    }
    render_ids(doc, &ids, skip)
}

/// Renders the outermost elements among `ids`, in document order.
pub(crate) fn render_ids(
    doc: &Html,
    ids: &HashSet<NodeId>,
    skip: &dyn Fn(&ElementRef) -> bool,
) -> Vec<Block> {
    let mut out = Vec::new();
    if ids.is_empty() {
        return out;
    }
    let mut inside: Option<NodeId> = None;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if inside.is_none() && ids.contains(&node.id()) {
                    inside = Some(node.id());
                    if let Some(el) = ElementRef::wrap(node) {
                        out.extend(render(el, skip));
                    }
                }
            }
            Edge::Close(node) => {
                if inside == Some(node.id()) {
                    inside = None;
                }
            }
        }
    }
    out
}

/// Joins blocks: one blank line between paragraphs, one newline between items
/// of the same list.
pub(crate) fn join_blocks(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut prev: Option<Kind> = None;
    for b in blocks {
        if let Some(p) = prev {
            let same_list = matches!((p, b.kind), (Kind::Item(a), Kind::Item(c)) if a == c);
            out.push_str(if same_list { "\n" } else { "\n\n" });
        }
        out.push_str(&b.text);
        prev = Some(b.kind);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            blocks: Vec::new(),
            buf: String::new(),
            list_stack: Vec::new(),
            li_depth: 0,
            pre_depth: 0,
        }
    }

    /// The rule as first written, char by char.
    fn push_reference(buf: &mut String, text: &str) {
        let mut last_space = buf.ends_with([' ', '\n']) || buf.is_empty();
        for c in text.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                if !last_space {
                    buf.push(' ');
                    last_space = true;
                }
            } else {
                buf.push(c);
                last_space = false;
            }
        }
    }

    #[test]
    fn push_text_matches_the_reference_rule() {
        const PIECES: &[&str] = &[
            " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{85}", "\u{2003}", "a", "word",
            "é", "“x”", "🙂", "\u{301}",
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..20_000 {
            let mut st = state();
            let mut reference = String::new();
            for _ in 0..rng.usize(1..4) {
                let n = rng.usize(0..8);
                let s: String = (0..n).map(|_| PIECES[rng.usize(0..PIECES.len())]).collect();
                st.push_text(&s);
                push_reference(&mut reference, &s);
                if rng.bool() {
                    st.buf.push('\n');
                    reference.push('\n');
                }
            }
            assert_eq!(st.buf, reference);
        }
    }
}
