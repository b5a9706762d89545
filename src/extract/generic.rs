//! Generic article extraction for pages without a profile (readability-style).
//!
//! 1. One iterative pass marks boilerplate subtrees (navigation, header,
//!    footer, aside, forms, captions, hidden elements, and elements whose
//!    class/id says share/social/related/comment/newsletter/breadcrumb/menu...)
//!    and sums, per element, its text length, link text length and commas.
//! 2. Text blocks (`p`, `pre`, `td`, `blockquote`, leaf `div`s) of 25+
//!    characters give points to their ancestors (parent full, grandparent half,
//!    further ancestors a third per level); an ancestor's score is scaled by
//!    `1 - link density`. Semantic containers (`article`, `main`,
//!    `[role=main]`, `[itemprop=articleBody]`) get a bonus.
//! 3. The best container plus its siblings that look like content is
//!    rendered, dropping link-heavy blocks, small page furniture (class/id
//!    says byline, date, share, caption, ... even inside a `*-content`
//!    wrapper), inline clusters of 3+ links (hover cards) and short
//!    paragraphs that are mostly one link ("READ MORE: ..."). When the
//!    container holds several substantial `<article>`s (infinite scroll),
//!    only the first is kept.
//! 4. A JSON-LD `articleBody` is preferred when it is long enough compared
//!    with the DOM result.

use super::meta;
use super::render::{self, BLOCK_TAGS, SKIP_TAGS, attr, is_hidden};
use ego_tree::NodeId;
use ego_tree::iter::Edge;
use regex::Regex;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use scraper::node::Element;
use scraper::{ElementRef, Html, Node};
use std::sync::OnceLock;

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    chars: usize,
    link_chars: usize,
    commas: usize,
    has_block: bool,
    paragraphs: usize,
    /// Text directly inside this element (not in child elements).
    own_chars: usize,
    own_commas: usize,
    /// Links that are direct children of this element.
    child_links: usize,
}

impl Stats {
    fn link_density(&self) -> f64 {
        if self.chars == 0 {
            0.0
        } else {
            self.link_chars as f64 / self.chars as f64
        }
    }
}

fn unlikely_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)-ad-|\bads?\b|advert|banner|breadcrumb|combx|comment|community|cookie|consent|disqus|extra|footer|gdpr|header|legends|menu|masthead|navbar|\bnav\b|newsletter|pagination|pager|popup|modal|promo|related|remark|replies|rss|share|sharing|shoutbox|sidebar|skyscraper|social|sponsor|subscribe|supplemental|signup|sign-up|toolbar|tooltip|recommend|read-more|more-stories|trending|outbrain|taboola|skip-link|sr-only|visually-hidden|screen-reader|print-only|byline|author-bio|tags\b|topics\b|caption|credit",
        )
        .expect("static regex")
    })
}

/// Class/id words that mark a small element as page furniture even inside
/// an element that otherwise looks like content (`card-content byline`).
fn furniture_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)byline|dateline|timestamp|date|breadcrumb|share|sharing|social|caption|credit|newsletter|subscribe|author|posted|meta")
            .expect("static regex")
    })
}

fn maybe_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)and|article|body|column|content|main|shadow|story|entry|post-text|text")
            .expect("static regex")
    })
}

fn positive_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story")
            .expect("static regex")
    })
}

fn negative_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)-ad-|hidden|^hid$|\bhid\b|banner|combx|comment|com-|contact|foot|footer|footnote|gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|sponsor|shopping|tags|tool|widget|caption|credit")
            .expect("static regex")
    })
}

fn class_and_id(el: &Element) -> String {
    let mut s = String::new();
    if let Some(c) = attr(el, "class") {
        s.push_str(c);
    }
    if let Some(i) = attr(el, "id") {
        s.push(' ');
        s.push_str(i);
    }
    s
}

fn class_weight(el: &Element) -> f64 {
    let mut w = 0.0;
    for part in [attr(el, "class"), attr(el, "id")].into_iter().flatten() {
        if negative_re().is_match(part) {
            w -= 25.0;
        }
        if positive_re().is_match(part) {
            w += 25.0;
        }
    }
    w
}

/// `form` is not here: ASP.NET pages wrap the whole page in one; forms are
/// handled by the conditional cleaning instead.
pub(crate) const JUNK_TAGS: &[&str] = &["nav", "header", "footer", "aside", "figcaption", "menu"];
pub(crate) const JUNK_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "menu",
    "menubar",
    "search",
    "dialog",
    "alertdialog",
    "toolbar",
];
const SEMANTIC_ROOTS: &[&str] = &["html", "body", "article", "main"];

/// `strict`: also drop elements whose class/id looks like boilerplate
/// (the retry without it rescues pages whose wrappers have odd class names).
fn is_junk(el: &Element, strict: bool) -> bool {
    let name = el.name();
    if SKIP_TAGS.contains(&name) || JUNK_TAGS.contains(&name) || is_hidden(el) {
        return true;
    }
    if attr(el, "role")
        .is_some_and(|r| JUNK_ROLES.contains(&r.trim().to_ascii_lowercase().as_str()))
    {
        return true;
    }
    if !strict || SEMANTIC_ROOTS.contains(&name) || name == "a" || is_semantic_content(el) {
        return false;
    }
    let ci = class_and_id(el);
    !ci.is_empty() && unlikely_re().is_match(&ci) && !maybe_re().is_match(&ci)
}

fn is_semantic_content(el: &Element) -> bool {
    attr(el, "itemprop").is_some_and(|v| v.split_whitespace().any(|p| p == "articleBody"))
        || attr(el, "role").is_some_and(|r| r.trim().eq_ignore_ascii_case("main"))
}

fn tag_base_score(name: &str) -> f64 {
    match name {
        "div" | "article" | "main" | "section" => 5.0,
        "pre" | "td" | "blockquote" => 3.0,
        "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
        _ => 0.0,
    }
}

struct Analysis {
    junk: HashSet<NodeId>,
    stats: HashMap<NodeId, Stats>,
}

fn count_text(t: &str) -> (usize, usize) {
    let mut chars = 0;
    let mut commas = 0;
    let mut in_space = true;
    for c in t.chars() {
        if c.is_whitespace() {
            if !in_space {
                chars += 1;
                in_space = true;
            }
        } else {
            chars += 1;
            in_space = false;
            if c == ',' || c == '，' || c == '、' {
                commas += 1;
            }
        }
    }
    (chars, commas)
}

fn analyse(doc: &Html, strict: bool) -> Analysis {
    let mut junk = HashSet::default();
    let mut stats = HashMap::default();
    let mut stack: Vec<Stats> = vec![Stats::default()];
    let mut skipping: Option<NodeId> = None;
    let mut link_depth = 0usize;
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(el) => {
                        if is_junk(el, strict) {
                            junk.insert(node.id());
                            skipping = Some(node.id());
                            continue;
                        }
                        if el.name() == "a" {
                            link_depth += 1;
                        }
                        stack.push(Stats::default());
                    }
                    Node::Text(t) => {
                        let (chars, commas) = count_text(t);
                        if let Some(top) = stack.last_mut() {
                            top.chars += chars;
                            top.commas += commas;
                            if link_depth == 0 {
                                top.own_chars += chars;
                                top.own_commas += commas;
                            }
                            if link_depth > 0 {
                                top.link_chars += chars;
                            }
                        }
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
                let Node::Element(el) = node.value() else {
                    continue;
                };
                let name = el.name();
                if name == "a" {
                    link_depth = link_depth.saturating_sub(1);
                }
                let Some(mut s) = stack.pop() else { continue };
                if name == "p" {
                    s.paragraphs += 1;
                }
                if let Some(parent) = stack.last_mut() {
                    if name == "a" {
                        parent.child_links += 1;
                    }
                    parent.chars += s.chars;
                    parent.link_chars += s.link_chars;
                    parent.commas += s.commas;
                    parent.paragraphs += s.paragraphs;
                    parent.has_block |= s.has_block || BLOCK_TAGS.contains(&name);
                }
                stats.insert(node.id(), s);
            }
        }
    }
    Analysis { junk, stats }
}

fn element(doc: &Html, id: NodeId) -> Option<ElementRef<'_>> {
    doc.tree.get(id).and_then(ElementRef::wrap)
}

/// Picks the content elements (the best container and content-like siblings).
fn content_ids(doc: &Html, a: &Analysis) -> Vec<NodeId> {
    let mut scores: HashMap<NodeId, f64> = HashMap::default();
    let init = |id: NodeId, scores: &mut HashMap<NodeId, f64>| {
        scores.entry(id).or_insert_with(|| {
            element(doc, id).map_or(0.0, |e| {
                let el = e.value();
                let mut s = tag_base_score(el.name()) + class_weight(el);
                if matches!(el.name(), "article" | "main") || is_semantic_content(el) {
                    s += 10.0;
                }
                s
            })
        });
    };
    let mut ids: Vec<NodeId> = a.stats.keys().copied().collect();
    ids.sort();
    for id in ids {
        let Some(st) = a.stats.get(&id) else { continue };
        let Some(el) = element(doc, id) else { continue };
        let name = el.value().name();
        let is_text_block = matches!(name, "p" | "pre" | "td" | "blockquote")
            || (matches!(name, "div" | "section" | "article") && !st.has_block);
        // Loose text next to block children counts as a paragraph of the element itself.
        let (chars, commas, mut cur) = if is_text_block {
            (st.chars, st.commas, el.parent())
        } else if matches!(name, "div" | "section" | "article" | "main") {
            (st.own_chars, st.own_commas, Some(*el))
        } else {
            continue;
        };
        if chars < 25 {
            continue;
        }
        let score = 1.0 + commas as f64 + (chars as f64 / 100.0).min(3.0);
        let mut level = 0usize;
        while let Some(p) = cur {
            if level >= 5 || !p.value().is_element() {
                break;
            }
            let div = match level {
                0 => 1.0,
                1 => 2.0,
                l => l as f64 * 3.0,
            };
            init(p.id(), &mut scores);
            if let Some(s) = scores.get_mut(&p.id()) {
                *s += score / div;
            }
            level += 1;
            cur = p.parent();
        }
    }
    let final_score = |id: NodeId, s: f64| {
        let ld = a.stats.get(&id).map_or(0.0, Stats::link_density);
        s * (1.0 - ld)
    };
    let mut ranked: Vec<(NodeId, f64)> = scores
        .iter()
        .map(|(&id, &s)| (id, final_score(id, s)))
        .collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let Some(&(mut top, mut top_score)) = ranked.first() else {
        return Vec::new();
    };

    // Several near-equal candidates sharing an ancestor: the article is split
    // into sections, take the common ancestor.
    let close: Vec<NodeId> = ranked
        .iter()
        .skip(1)
        .take(5)
        .filter(|(_, s)| *s >= top_score * 0.75)
        .map(|(id, _)| *id)
        .collect();
    if close.len() >= 3
        && let Some(top_el) = element(doc, top)
    {
        let mut cur = top_el.parent();
        while let Some(p) = cur {
            if !p.value().is_element() || p.value().as_element().is_some_and(|e| e.name() == "body")
            {
                break;
            }
            let contained = close
                .iter()
                .filter(|id| {
                    doc.tree
                        .get(**id)
                        .is_some_and(|n| n.ancestors().any(|anc| anc.id() == p.id()))
                })
                .count();
            if contained >= 3 {
                top = p.id();
                top_score = scores.get(&p.id()).copied().unwrap_or(top_score);
                break;
            }
            cur = p.parent();
        }
    }

    // A lone child wrapper: move up to the parent while it adds nothing.
    while let Some(el) = element(doc, top) {
        let Some(parent) = el.parent().and_then(ElementRef::wrap) else {
            break;
        };
        if matches!(parent.value().name(), "body" | "html") {
            break;
        }
        let pstats = a.stats.get(&parent.id()).copied().unwrap_or_default();
        let tstats = a.stats.get(&top).copied().unwrap_or_default();
        if pstats.chars == tstats.chars {
            top = parent.id();
        } else {
            break;
        }
    }

    if let Some(first) = first_of_several_articles(doc, a, top) {
        return vec![first];
    }

    let Some(top_el) = element(doc, top) else {
        return Vec::new();
    };
    let threshold = (top_score * 0.2).max(10.0);
    let top_class = attr(top_el.value(), "class").unwrap_or("");
    let mut out = Vec::new();
    let Some(parent) = top_el.parent() else {
        return vec![top];
    };
    for sib in parent.children() {
        let id = sib.id();
        if id == top {
            out.push(id);
            continue;
        }
        if a.junk.contains(&id) {
            continue;
        }
        let Some(sel) = ElementRef::wrap(sib) else {
            continue;
        };
        let Some(st) = a.stats.get(&id) else { continue };
        let mut bonus = 0.0;
        if !top_class.is_empty() && attr(sel.value(), "class") == Some(top_class) {
            bonus += top_score * 0.2;
        }
        let sib_score = scores.get(&id).map_or(0.0, |s| final_score(id, *s));
        let mut append = sib_score + bonus >= threshold;
        if !append && sel.value().name() == "p" {
            let ld = st.link_density();
            let text: String = sel.text().collect();
            if st.chars > 80 && ld < 0.25 {
                append = true;
            } else if st.chars > 0 && st.chars <= 80 && ld == 0.0 {
                let t = text.trim_end();
                append = t.ends_with('.') || t.contains(". ");
            }
        }
        if append {
            out.push(id);
        }
    }
    out
}

/// When the chosen container holds several substantial `<article>` elements
/// (infinite scroll, "next story" blocks), the page's own article is the
/// first of them.
fn first_of_several_articles(doc: &Html, a: &Analysis, top: NodeId) -> Option<NodeId> {
    let top_el = element(doc, top)?;
    if top_el.value().name() == "article" {
        return None;
    }
    let mut articles: Vec<(NodeId, usize)> = Vec::new();
    let mut inside: Option<NodeId> = None;
    for edge in top_el.traverse() {
        match edge {
            Edge::Open(node) => {
                if inside.is_some() {
                    continue;
                }
                if let Node::Element(el) = node.value()
                    && el.name() == "article"
                    && node.id() != top
                {
                    inside = Some(node.id());
                    if let Some(st) = a.stats.get(&node.id()) {
                        articles.push((node.id(), st.chars));
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
    let max = articles.iter().map(|(_, c)| *c).max()?;
    let substantial = |c: usize| c >= 500 && c * 10 >= max * 3;
    if articles.iter().filter(|(_, c)| substantial(*c)).count() < 2 {
        return None;
    }
    articles
        .into_iter()
        .find(|(_, c)| substantial(*c))
        .map(|(id, _)| id)
}

/// Conditional cleaning inside the chosen content (readability's
/// `_cleanConditionally`, reduced): link-heavy blocks with few commas go.
fn drop_in_content(e: &ElementRef, a: &Analysis) -> bool {
    let el = e.value();
    let name = el.name();
    let Some(st) = a.stats.get(&e.id()) else {
        return false;
    };
    let ld = st.link_density();
    let weight = class_weight(el);
    if name.len() == 2 && name.starts_with('h') && name[1..].chars().all(|c| c.is_ascii_digit()) {
        return weight < 0.0 || ld > 0.33;
    }
    if name == "form" && st.paragraphs == 0 {
        return true;
    }
    if st.chars < 200 && !is_semantic_content(el) {
        let ci = class_and_id(el);
        if !ci.is_empty() && furniture_re().is_match(&ci) {
            return true;
        }
    }
    // An inline cluster of links inside prose (hover cards, "related" pop-ups).
    if name == "span" && st.child_links >= 3 && ld > 0.8 {
        return true;
    }
    // A short paragraph that is mostly a link is a teaser ("READ MORE: ...").
    if name == "p" && ld > 0.5 && st.chars < 200 && st.chars.saturating_sub(st.link_chars) < 30 {
        return true;
    }
    if !matches!(
        name,
        "div" | "section" | "ul" | "ol" | "table" | "dl" | "center" | "figure" | "form"
    ) {
        return false;
    }
    if weight < 0.0 && st.commas < 10 && st.paragraphs < 3 {
        return true;
    }
    if st.commas >= 10 {
        return false;
    }
    (weight < 25.0 && ld > 0.2 && st.chars < 1000) || ld > 0.5
}

fn dom_body(doc: &Html, title: &str) -> String {
    let strict = dom_body_with(doc, title, true);
    if strict.chars().count() >= 200 {
        return strict;
    }
    let loose = dom_body_with(doc, title, false);
    if loose.chars().count() > strict.chars().count() {
        loose
    } else {
        strict
    }
}

fn dom_body_with(doc: &Html, title: &str, strict: bool) -> String {
    let a = analyse(doc, strict);
    let ids = content_ids(doc, &a);
    let skip = |e: &ElementRef| a.junk.contains(&e.id()) || drop_in_content(e, &a);
    let blocks = if ids.is_empty() {
        let body = scraper::Selector::parse("body").ok();
        match body.as_ref() {
            Some(s) => render::render_matches(doc, &[s], &skip),
            None => Vec::new(),
        }
    } else {
        let set: HashSet<NodeId> = ids.into_iter().collect();
        render::render_ids(doc, &set, &skip)
    };
    super::finish_body(blocks, title, None)
}

/// The longest JSON-LD `articleBody`, rendered as text.
fn json_ld_body(meta: &meta::Meta, title: &str) -> String {
    let Some(raw) = meta
        .json_ld_strings("articleBody")
        .into_iter()
        .max_by_key(|s| s.len())
    else {
        return String::new();
    };
    let looks_html = raw.contains("</p>") || raw.contains("<br") || raw.contains("</div>");
    if looks_html {
        let frag = Html::parse_fragment(&raw);
        let blocks = render::render(frag.root_element(), &render::no_skip);
        return super::finish_body(blocks, title, None);
    }
    let decoded = html_escape::decode_html_entities(&raw).replace("\r\n", "\n");
    // Plain text: single newlines separate paragraphs in most CMS exports.
    let text = decoded.split('\n').collect::<Vec<_>>().join("\n\n");
    let blocks = vec![render::Block {
        text: super::normalize_text(&text),
        kind: render::Kind::Para,
    }];
    super::finish_body(blocks, title, None)
}

pub(crate) fn extract_body(doc: &Html, meta: &meta::Meta, title: &str) -> String {
    let dom = dom_body(doc, title);
    let ld = json_ld_body(meta, title);
    let dom_len = dom.chars().count();
    let ld_len = ld.chars().count();
    if ld_len >= 250 && ld_len * 10 >= dom_len * 6 {
        ld
    } else {
        dom
    }
}
