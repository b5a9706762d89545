//! The HTML pages (maud templates): every value is escaped by maud unless wrapped in
//! `PreEscaped`, which is used only for constant markup.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::diff::{Diff, Tag};
use crate::store::web::{PageInfo, VersionMeta};
use crate::store::{ChangeKind, ChangeRow, Version};

/// Small, phone-friendly, no external resources.
const CSS: &str = r#"
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--mute:#666;--line:#ddd;--link:#0b57d0;
--ins-bg:#d4f7d4;--ins-fg:#0b5d0b;--del-bg:#fbd9d9;--del-fg:#8a1111;--card:#f6f7f9}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#16181b;--mute:#9aa0a6;--line:#333;
--link:#8ab4f8;--ins-bg:#16391c;--ins-fg:#a8e6a8;--del-bg:#4a1d1d;--del-fg:#f3b1b1;--card:#1f2226}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{border-bottom:1px solid var(--line);padding:.5rem 1rem;display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header .brand{font-weight:700;font-size:1.1rem}
main{max-width:60rem;margin:0 auto;padding:1rem}
a{color:var(--link)}
h1{font-size:1.4rem;margin:.2rem 0 .6rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:1.2rem 0 .5rem}
.meta,.muted{color:var(--mute);font-size:.9rem;overflow-wrap:anywhere}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;margin:0 0 1rem;align-items:center}
form.filters input[type=search]{flex:1 1 12rem;min-width:0}
select,input,button{font:inherit;padding:.3rem .5rem}
ol.changes{list-style:none;padding:0;margin:0}
ol.changes li{padding:.6rem 0;border-bottom:1px solid var(--line)}
ol.changes .title{font-weight:600;overflow-wrap:anywhere}
.kind{display:inline-block;font-size:.75rem;font-weight:700;text-transform:uppercase;padding:0 .4rem;border-radius:.25rem;margin-right:.4rem;vertical-align:.1em}
.kind-new{background:var(--ins-bg);color:var(--ins-fg)}
.kind-changed{background:#fff1c2;color:#6b4e00}
.kind-removed{background:var(--del-bg);color:var(--del-fg)}
nav.pager{display:flex;justify-content:space-between;gap:1rem;margin:1rem 0}
ins{background:var(--ins-bg);color:var(--ins-fg);text-decoration:none}
del{background:var(--del-bg);color:var(--del-fg);text-decoration:line-through}
.text p,.diff p{margin:0 0 .8rem;overflow-wrap:anywhere}
.diff .gap{color:var(--mute);text-align:center}
.sbs{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.sbs>div{background:var(--card);padding:.5rem .75rem;border-radius:.4rem;min-width:0}
.sbs .label{font-size:.8rem;color:var(--mute);margin-bottom:.3rem}
@media (max-width:40rem){.sbs{grid-template-columns:1fr}}
.tabs a,.tabs strong{margin-right:.8rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
td.t{overflow-wrap:break-word;min-width:9rem}
td.nw{white-space:nowrap}
@media (max-width:40rem){.wide{display:none}}
tr.current{background:var(--card)}
.scroll{overflow-x:auto}
.empty{padding:2rem 0;color:var(--mute)}
"#;

/// The frame of every page.
pub fn layout(prefix: &str, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · presswatch" }
                link rel="icon" href="data:,";
                link rel="alternate" type="application/atom+xml" title="presswatch changes"
                    href={ (prefix) "/feed.atom" };
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a.brand href={ (prefix) "/" } { "presswatch" }
                    a href={ (prefix) "/" } { "Change log" }
                    a href={ (prefix) "/feed.atom" } { "Atom feed" }
                }
                main { (content) }
            }
        }
    }
}

pub fn kind_badge(kind: ChangeKind) -> Markup {
    html! { span class={ "kind kind-" (kind.as_str()) } { (kind.as_str()) } }
}

/// "2026-11-23T10:30:02Z" → "2026-11-23 10:30:02 UTC".
pub fn when(ts: &str) -> String {
    match ts.strip_suffix('Z') {
        Some(t) => format!("{} UTC", t.replacen('T', " ", 1)),
        None => ts.replacen('T', " ", 1),
    }
}

fn versions_label(c: &ChangeRow) -> String {
    match (c.from_version, c.to_version) {
        (Some(a), Some(b)) => format!("v{a}\u{2192}v{b}"),
        (None, Some(b)) => format!("v{b}"),
        (Some(a), None) => format!("was v{a}"),
        (None, None) => String::new(),
    }
}

fn title_or_url(c: &ChangeRow) -> &str {
    if c.title.trim().is_empty() {
        &c.url
    } else {
        &c.title
    }
}

/// What the change log page shows.
pub struct LogView<'a> {
    pub prefix: &'a str,
    pub rows: &'a [ChangeRow],
    pub total: i64,
    pub page: usize,
    pub pages: usize,
    pub sources: &'a [String],
    pub source: Option<&'a str>,
    pub kind: Option<ChangeKind>,
    pub q: &'a str,
    pub baseline: bool,
    /// Links to the newer / older page, with the filters.
    pub newer: Option<String>,
    pub older: Option<String>,
}

pub fn change_log(v: &LogView<'_>) -> Markup {
    let p = v.prefix;
    let filtered = v.source.is_some() || v.kind.is_some() || !v.q.is_empty() || v.baseline;
    let content = html! {
        h1 { "Change log" }
        form.filters method="get" action={ (p) "/" } role="search" {
            select #source name="source" aria-label="Source" {
                option value="" { "All sources" }
                @for s in v.sources {
                    option value=(s) selected[v.source == Some(s.as_str())] { (s) }
                }
            }
            select #kind name="kind" aria-label="Kind" {
                option value="" { "All kinds" }
                @for k in [ChangeKind::New, ChangeKind::Changed, ChangeKind::Removed] {
                    option value=(k.as_str()) selected[v.kind == Some(k)] { (k.as_str()) }
                }
            }
            input #q type="search" name="q" aria-label="Title contains" value=(v.q) placeholder="Search titles";
            label.muted {
                input type="checkbox" name="baseline" value="1" checked[v.baseline];
                " baseline"
            }
            button type="submit" { "Filter" }
            @if filtered { a href={ (p) "/" } { "Reset" } }
        }
        p.muted #summary {
            (v.total) @if v.total == 1 { " change" } @else { " changes" }
            @if v.pages > 1 { " · page " (v.page) " of " (v.pages) }
        }
        @if v.rows.is_empty() {
            p.empty { "No changes." }
        } @else {
            ol.changes {
                @for c in v.rows {
                    li {
                        div {
                            (kind_badge(c.kind))
                            a.title href={ (p) "/changes/" (c.id) } { (title_or_url(c)) }
                        }
                        div.meta {
                            time datetime=(c.detected_at) { (when(&c.detected_at)) }
                            " · " (c.source)
                            @if c.kind == ChangeKind::Changed {
                                " · +" (c.words_added) "/−" (c.words_removed) " words"
                            }
                            " · " (versions_label(c))
                            @if c.baseline { " · baseline" }
                            " · " a href={ (p) "/pages/" (c.page_id) } { "history" }
                        }
                    }
                }
            }
        }
        nav.pager {
            span { @if let Some(h) = &v.newer { a rel="prev" href=(h) { "← Newer" } } }
            span { @if let Some(h) = &v.older { a rel="next" href=(h) { "Older →" } } }
        }
    };
    layout(p, "Change log", content)
}

/// The paragraphs of a run of diff segments, keeping only the tags `keep` allows. Paragraphs
/// are separated by a blank line; a single newline becomes `<br>`.
fn diff_paragraphs(segments: &[crate::diff::Segment], keep: impl Fn(Tag) -> bool) -> Markup {
    let mut paras: Vec<Vec<(Tag, &str)>> = vec![Vec::new()];
    for seg in segments.iter().filter(|s| keep(s.tag)) {
        for (i, piece) in seg.text.split("\n\n").enumerate() {
            if i > 0 {
                paras.push(Vec::new());
            }
            if let Some(last) = paras.last_mut().filter(|_| !piece.is_empty()) {
                last.push((seg.tag, piece));
            }
        }
    }
    html! {
        @for para in paras.iter().filter(|p| p.iter().any(|(_, t)| !t.trim().is_empty())) {
            p {
                @for (tag, text) in para {
                    @match tag {
                        Tag::Equal => (lines(text)),
                        Tag::Added => ins { (lines(text)) },
                        Tag::Removed => del { (lines(text)) },
                    }
                }
            }
        }
    }
}

fn lines(text: &str) -> Markup {
    html! {
        @for (i, line) in text.split('\n').enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

/// A text as paragraphs.
pub fn text_block(text: &str) -> Markup {
    html! {
        div.text {
            @for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
                p { (lines(para)) }
            }
        }
    }
}

/// How a change's diff is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffView {
    Inline,
    SideBySide,
}

pub struct ChangeView<'a> {
    pub prefix: &'a str,
    pub change: &'a ChangeRow,
    pub old: Option<&'a Version>,
    pub new: Option<&'a Version>,
    pub diff: Option<&'a Diff>,
    pub view: DiffView,
    pub full: bool,
}

pub fn change_page(v: &ChangeView<'_>) -> Markup {
    let p = v.prefix;
    let c = v.change;
    let base = format!("{p}/changes/{}", c.id);
    let link = |view: DiffView, full: bool| {
        let mut q = Vec::new();
        if view == DiffView::SideBySide {
            q.push("view=side");
        }
        if full {
            q.push("context=all");
        }
        if q.is_empty() {
            base.clone()
        } else {
            format!("{base}?{}", q.join("&"))
        }
    };
    let content = html! {
        p.muted { a href={ (p) "/" } { "← Change log" } }
        h1 { (kind_badge(c.kind)) (title_or_url(c)) }
        p.meta {
            "Detected " time datetime=(c.detected_at) { (when(&c.detected_at)) }
            " · " (c.source) " · " (versions_label(c))
            @if c.kind == ChangeKind::Changed {
                " · +" (c.words_added) "/−" (c.words_removed) " words"
            }
            @if c.baseline { " · baseline (first cycle, not alerted)" }
            br;
            a href=(c.url) rel="noopener noreferrer nofollow" { (c.url) }
            " · " a href={ (p) "/pages/" (c.page_id) } { "all versions" }
        }
        @match (c.kind, v.diff) {
            (ChangeKind::Changed, Some(d)) => {
                p.tabs {
                    @if v.view == DiffView::Inline { strong { "Inline" } }
                    @else { a href=(link(DiffView::Inline, v.full)) { "Inline" } }
                    @if v.view == DiffView::SideBySide { strong { "Side by side" } }
                    @else { a href=(link(DiffView::SideBySide, v.full)) { "Side by side" } }
                    @if v.full { a href=(link(v.view, false)) { "Changed paragraphs only" } }
                    @else { a href=(link(v.view, true)) { "Whole text" } }
                }
                @if d.hunks.is_empty() {
                    p.empty { "The two versions have the same words." }
                }
                div.diff #diff {
                    @for (i, h) in d.hunks.iter().enumerate() {
                        @if i > 0 { p.gap { "…" } }
                        @if v.view == DiffView::SideBySide {
                            div.sbs {
                                div.old {
                                    div.label { "Before" @if let Some(o) = v.old { " (v" (o.version) ")" } }
                                    (diff_paragraphs(&h.segments, |t| t != Tag::Added))
                                }
                                div.new {
                                    div.label { "After" @if let Some(n) = v.new { " (v" (n.version) ")" } }
                                    (diff_paragraphs(&h.segments, |t| t != Tag::Removed))
                                }
                            }
                        } @else {
                            (diff_paragraphs(&h.segments, |_| true))
                        }
                    }
                }
            }
            (ChangeKind::Removed, _) => {
                p { "The page answered 404/410 on two consecutive checks." }
                @if let Some(o) = v.old {
                    h2 { "Last version (v" (o.version) ", fetched " (when(&o.fetched_at)) ")" }
                    (version_text(o))
                }
            }
            _ => {
                @if let Some(n) = v.new {
                    h2 { "Version " (n.version) ", fetched " (when(&n.fetched_at)) }
                    (version_text(n))
                } @else {
                    p.empty { "The version of this change is not stored." }
                }
            }
        }
    };
    layout(p, title_or_url(c), content)
}

fn version_text(v: &Version) -> Markup {
    html! {
        article #text {
            p.meta {
                strong { (v.title) }
                @if let Some(p) = &v.published { br; "Published " (p) }
            }
            (text_block(&v.body))
        }
    }
}

pub struct PageView<'a> {
    pub prefix: &'a str,
    pub page: &'a PageInfo,
    pub versions: &'a [VersionMeta],
    pub changes: &'a [ChangeRow],
    pub shown: Option<&'a Version>,
}

pub fn page_history(v: &PageView<'_>) -> Markup {
    let p = v.prefix;
    let pg = v.page;
    let title = v
        .versions
        .last()
        .map(|x| x.title.as_str())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(pg.url.as_str());
    let change_for = |n: i64| v.changes.iter().rev().find(|c| c.to_version == Some(n));
    let content = html! {
        p.muted { a href={ (p) "/" } { "← Change log" } }
        h1 { (title) }
        p.meta {
            a href=(pg.url) rel="noopener noreferrer nofollow" { (pg.url) }
            br;
            (pg.source) " · " @if pg.removed { "removed" } @else { "active" }
            " · first seen " (when(&pg.first_seen_at))
            @if let Some(t) = &pg.last_check_at {
                " · last checked " (when(t))
                @if let Some(s) = &pg.last_status { " (" (s) ")" }
            }
            @if let Some(e) = &pg.last_error { br; "Last error: " (e) }
        }
        h2 { "Versions" }
        @if v.versions.is_empty() {
            p.empty { "No version stored yet." }
        } @else {
            div.scroll {
                table #versions {
                    thead { tr { th { "#" } th { "Fetched" } th { "Title" } th.wide { "Published" } th { "Change" } } }
                    tbody {
                        @for m in v.versions.iter().rev() {
                            tr.current[v.shown.is_some_and(|s| s.version == m.version)] {
                                td { a href={ (p) "/pages/" (pg.id) "?version=" (m.version) } { "v" (m.version) } }
                                td { (when(&m.fetched_at)) }
                                td.t { (m.title) }
                                td.wide { (m.published.as_deref().unwrap_or("")) }
                                td {
                                    @if let Some(c) = change_for(m.version) {
                                        a href={ (p) "/changes/" (c.id) } { (c.kind.as_str()) }
                                        @if c.kind == ChangeKind::Changed {
                                            " +" (c.words_added) "/−" (c.words_removed)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @let removals: Vec<&ChangeRow> = v.changes.iter().filter(|c| c.kind == ChangeKind::Removed).collect();
        @if !removals.is_empty() {
            p.meta {
                @for c in removals {
                    "Removed " a href={ (p) "/changes/" (c.id) } { (when(&c.detected_at)) } " "
                }
            }
        }
        @if let Some(s) = v.shown {
            h2 { "Version " (s.version) ", fetched " (when(&s.fetched_at)) }
            (version_text(s))
        }
    };
    layout(p, title, content)
}

/// An error page (404, 400, 500).
pub fn error_page(prefix: &str, title: &str, message: &str) -> Markup {
    layout(
        prefix,
        title,
        html! {
            h1 { (title) }
            p { (message) }
            p { a href={ (prefix) "/" } { "← Change log" } }
        },
    )
}
