//! Discovery: turn a source (feed, listing page, sitemap, single page) into statement URLs.
//!
//! Every discovered link is resolved against the document URL, canonicalised, and kept only if
//! the source accepts it (same host as the source, matching `match`): a listing can never send
//! presswatch to another address.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use scraper::{Html, Selector};
use url::Url;

use crate::config::{Source, SourceKind};
use crate::util::canonical_url;

/// Why a discovery document could not be read. Messages name the URL.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{url}: not a valid RSS/Atom feed: {reason}")]
    Feed { url: String, reason: String },
    #[error("{url}: not a valid sitemap: {reason}")]
    Sitemap { url: String, reason: String },
    #[error("{url}: invalid links selector {selector:?}")]
    Selector { url: String, selector: String },
}

/// What a discovery document yields.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Statement URLs, canonical, deduplicated, in document order.
    pub pages: Vec<Url>,
    /// `<lastmod>` of each page a sitemap dates (RFC 3339 or a date), by URL.
    pub lastmod: HashMap<Url, String>,
    /// Nested sitemaps to read next (sitemap indexes only).
    pub sitemaps: Vec<Url>,
    /// The next listing page (listing sources with `next`).
    pub next_page: Option<Url>,
    /// Feed entries as the feed gives them, for feed-only sources.
    pub entries: Vec<FeedEntry>,
    seen: HashSet<Url>,
}

/// A feed entry's own text: the statement of a feed-only source.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub url: Url,
    pub title: String,
    /// Summary or content, as plain text.
    pub text: String,
    pub published: Option<String>,
}

impl Discovered {
    fn push(&mut self, source: &Source, url: Url) -> bool {
        let url = canonical_url(&url);
        if source.accepts(&url) && self.seen.insert(url.clone()) {
            self.pages.push(url);
            return true;
        }
        false
    }
}

/// Parse a fetched discovery document of `source` (fetched from `doc_url`).
pub fn parse(source: &Source, doc_url: &Url, body: &[u8]) -> Result<Discovered, DiscoverError> {
    match source.kind {
        SourceKind::Page => {
            let mut d = Discovered::default();
            d.pages.push(canonical_url(&source.url));
            Ok(d)
        }
        SourceKind::Feed => parse_feed(source, doc_url, body),
        SourceKind::Listing => parse_listing(source, doc_url, body),
        SourceKind::Sitemap => parse_sitemap(source, doc_url, body),
    }
}

fn parse_feed(source: &Source, doc_url: &Url, body: &[u8]) -> Result<Discovered, DiscoverError> {
    let feed = feed_rs::parser::parse(body).map_err(|e| DiscoverError::Feed {
        url: doc_url.to_string(),
        reason: e.to_string(),
    })?;
    let mut d = Discovered::default();
    for entry in feed.entries {
        // RSS <guid isPermaLink> often holds the canonical story URL while <link> points at a
        // tracking or "view" variant: prefer the id when it is an acceptable URL.
        // The id counts only when it is itself an absolute URL ("123 at https://..." is not).
        let id = Some(entry.id.trim())
            .filter(|i| !i.contains(char::is_whitespace))
            .and_then(|i| Url::parse(i).ok());
        let links = entry
            .links
            .iter()
            .filter_map(|l| doc_url.join(l.href.trim()).ok());
        let chosen = id
            .into_iter()
            .chain(links)
            .map(|u| canonical_url(&u))
            .find(|u| source.accepts(u));
        if let Some(u) = chosen
            && d.push(source, u.clone())
            && !source.fetch_pages
        {
            // Feed-only: the entry's own text is the statement (HTML in it made plain).
            let html = entry
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .or_else(|| entry.summary.as_ref().map(|t| t.content.clone()))
                .unwrap_or_default();
            d.entries.push(FeedEntry {
                url: u,
                title: entry
                    .title
                    .as_ref()
                    .map(|t| t.content.trim().to_string())
                    .unwrap_or_default(),
                text: html_to_text(&html),
                published: entry.published.or(entry.updated).map(|t| t.to_rfc3339()),
            });
        }
    }
    Ok(d)
}

fn parse_listing(source: &Source, doc_url: &Url, body: &[u8]) -> Result<Discovered, DiscoverError> {
    let selector = Selector::parse(&source.links).map_err(|_| DiscoverError::Selector {
        url: doc_url.to_string(),
        selector: source.links.clone(),
    })?;
    let html = crate::extract::decode_html(body, None);
    let doc = Html::parse_document(&html);
    // <base href> changes how relative links resolve.
    let base = Selector::parse("base[href]")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| doc_url.join(h).ok())
        .unwrap_or_else(|| doc_url.clone());
    let mut d = Discovered::default();
    if let Some(next) = &source.next {
        let sel = Selector::parse(next).map_err(|_| DiscoverError::Selector {
            url: doc_url.to_string(),
            selector: next.clone(),
        })?;
        // The next page must stay on the listing's own host.
        d.next_page = doc
            .select(&sel)
            .find_map(|el| el.value().attr("href"))
            .and_then(|h| base.join(h.trim()).ok())
            .filter(|u| u.host_str() == doc_url.host_str() && u != doc_url);
    }
    for el in doc.select(&selector) {
        // The selector may pick the <a> itself or a card that contains one.
        let href = el.value().attr("href").or_else(|| {
            Selector::parse("a[href]")
                .ok()
                .and_then(|a| el.select(&a).next())
                .and_then(|a| a.value().attr("href"))
        });
        if let Some(u) = href.and_then(|h| base.join(h.trim()).ok()) {
            d.push(source, u);
        }
    }
    Ok(d)
}

/// Maximum size of a decompressed sitemap (the protocol's own limit is 50 MB).
const MAX_SITEMAP_BYTES: u64 = 50 * 1024 * 1024;

fn parse_sitemap(source: &Source, doc_url: &Url, body: &[u8]) -> Result<Discovered, DiscoverError> {
    let err = |reason: String| DiscoverError::Sitemap {
        url: doc_url.to_string(),
        reason,
    };
    let mut inflated = Vec::new();
    let bytes: &[u8] = if body.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(body)
            .take(MAX_SITEMAP_BYTES)
            .read_to_end(&mut inflated)
            .map_err(|e| err(format!("bad gzip: {e}")))?;
        &inflated
    } else {
        body
    };
    let text = std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| err(e.to_string()))?;
    let root = doc.root_element();
    let is_index = match root.tag_name().name() {
        "sitemapindex" => true,
        "urlset" => false,
        other => {
            return Err(err(format!(
                "root element is <{other}>, expected <urlset> or <sitemapindex>"
            )));
        }
    };
    let mut d = Discovered::default();
    for loc in root.descendants().filter(|n| n.tag_name().name() == "loc") {
        let Some(u) = loc.text().and_then(|t| doc_url.join(t.trim()).ok()) else {
            continue;
        };
        if is_index {
            // Nested sitemaps must stay on the source's host too.
            if u.host_str() == source.url.host_str() && !d.sitemaps.contains(&u) {
                d.sitemaps.push(u);
            }
        } else if d.push(source, u.clone()) {
            let lastmod = loc
                .parent()
                .and_then(|p| p.children().find(|c| c.tag_name().name() == "lastmod"))
                .and_then(|c| c.text())
                .map(|t| t.trim().to_string());
            if let Some(m) = lastmod {
                d.lastmod.insert(canonical_url(&u), m);
            }
        }
    }
    Ok(d)
}

/// Plain text of an HTML fragment (feed summaries), paragraphs kept.
fn html_to_text(html: &str) -> String {
    let frag = Html::parse_fragment(html);
    let mut paras: Vec<String> = Vec::new();
    let block = Selector::parse("p, li, h1, h2, h3, h4, blockquote").ok();
    if let Some(b) = &block {
        for el in frag.select(b) {
            let t: String = el.text().collect::<Vec<_>>().join(" ");
            let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if !t.is_empty() {
                paras.push(t);
            }
        }
    }
    if paras.is_empty() {
        let t: String = frag.root_element().text().collect::<Vec<_>>().join(" ");
        paras.push(t.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    crate::extract::normalize_text(&paras.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn source(kind: SourceKind, links: &str) -> Source {
        Source {
            name: "t".into(),
            kind,
            url: Url::parse("https://www.iom.int/news").expect("url"),
            matcher: Some(Regex::new(r"^https://www\.iom\.int/news/").expect("re")),
            links: links.into(),
            next: None,
            max_pages: 1,
            hosts: vec![],
            fetch_pages: true,
            body: None,
            profile: None,
            to: vec![],
            ignore: vec![],
            min_change_words: 0,
            notify: Default::default(),
            digest: crate::config::Digest::Off,
        }
    }

    #[test]
    fn listing_resolves_filters_and_dedups() {
        let html = br##"<html><body>
            <a href="/news/a">A</a><a href="/news/a#x">A again</a>
            <a href="https://evil.example/news/b">offsite</a>
            <a href="/about">not a statement</a>
            <a href="news/c?utm_source=x">relative</a></body></html>"##;
        let s = source(SourceKind::Listing, "a[href]");
        let d = parse(&s, &s.url, html).expect("listing");
        let got: Vec<&str> = d.pages.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            vec!["https://www.iom.int/news/a", "https://www.iom.int/news/c"]
        );
    }

    #[test]
    fn feed_prefers_guid_url() {
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><title>One</title><link>https://www.iom.int/feed/view/one</link><guid isPermaLink="true">https://www.iom.int/news/one</guid></item>
            <item><title>Two</title><link>https://www.iom.int/news/two</link><guid>123 at https://www.iom.int</guid></item>
            </channel></rss>"#;
        let s = source(SourceKind::Feed, "a[href]");
        let d = parse(&s, &s.url, rss).expect("feed");
        let got: Vec<&str> = d.pages.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            vec![
                "https://www.iom.int/news/one",
                "https://www.iom.int/news/two"
            ]
        );
    }

    #[test]
    fn listing_next_page_stays_on_host() {
        let mut s = source(SourceKind::Listing, "a.card");
        s.next = Some("a[rel=next]".into());
        let html =
            br#"<a class="card" href="/news/a">A</a><a rel="next" href="/news?page=2">next</a>"#;
        let d = parse(&s, &s.url, html).expect("listing");
        assert_eq!(
            d.next_page.as_ref().map(Url::as_str),
            Some("https://www.iom.int/news?page=2")
        );
        let html = br#"<a class="card" href="/news/a">A</a><a rel="next" href="https://evil.example/news?page=2">next</a>"#;
        assert!(
            parse(&s, &s.url, html)
                .expect("listing")
                .next_page
                .is_none()
        );
    }

    #[test]
    fn ten_thousand_links() {
        let mut html = String::from("<html><body>");
        for i in 0..10_000 {
            html.push_str(&format!("<a href=\"/news/s{}\">x</a>", i % 5_000));
        }
        let s = source(SourceKind::Listing, "a[href]");
        let d = parse(&s, &s.url, html.as_bytes()).expect("listing");
        assert_eq!(d.pages.len(), 5_000);
    }

    #[test]
    fn feed_only_entries_carry_their_text() {
        let mut s = source(SourceKind::Feed, "a[href]");
        s.fetch_pages = false;
        let rss = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
            <item><title>One</title><link>https://www.iom.int/news/one</link><description>&lt;p&gt;First para.&lt;/p&gt;&lt;p&gt;Second.&lt;/p&gt;</description></item>
            </channel></rss>"#;
        let d = parse(&s, &s.url, rss).expect("feed");
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.entries[0].title, "One");
        assert_eq!(d.entries[0].text, "First para.\n\nSecond.");
    }

    #[test]
    fn html_is_not_a_feed() {
        let s = source(SourceKind::Feed, "a[href]");
        let e = parse(&s, &s.url, b"<html><body>hi</body></html>").expect_err("not a feed");
        assert!(
            e.to_string()
                .starts_with("https://www.iom.int/news: not a valid RSS/Atom feed"),
            "{e}"
        );
    }

    #[test]
    fn sitemap_and_index() {
        let s = source(SourceKind::Sitemap, "a[href]");
        let set = br#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://www.iom.int/news/a</loc></url><url><loc>https://www.iom.int/other</loc></url></urlset>"#;
        let d = parse(&s, &s.url, set).expect("urlset");
        assert_eq!(d.pages.len(), 1);
        let idx = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://www.iom.int/s1.xml</loc></sitemap><sitemap><loc>https://evil.example/s.xml</loc></sitemap></sitemapindex>"#;
        let d = parse(&s, &s.url, idx).expect("index");
        assert_eq!(d.sitemaps.len(), 1);
        let e = parse(
            &s,
            &s.url,
            b"<urlset><url><loc>https://www.iom.int/news/a</lo",
        )
        .expect_err("truncated");
        assert!(e.to_string().contains("not a valid sitemap"), "{e}");
    }
}
