//! Site profiles, as data. Markup facts come from /work/shared/notes/sites.md;
//! expect the real markup to drift and keep the generic extractor as fallback
//! (a profile whose body selectors match nothing falls back to it).

use super::render;
use scraper::{ElementRef, Html, Selector};

/// One site profile.
#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    /// Exact hosts (`press.un.org`) or suffix patterns (`*.iom.int`, which
    /// also matches the bare `iom.int`).
    pub hosts: &'static [&'static str],
    /// Body selectors, tried in order; the first one that yields text wins
    /// (all its outermost matches are rendered in document order).
    pub body: &'static [&'static str],
    /// Title selectors, tried in order (text of the first non-empty match).
    pub title: &'static [&'static str],
    /// Date selectors: `datetime`, then `content`, then the element's text.
    pub date: &'static [&'static str],
    /// Dropped inside the body.
    pub drop: &'static [&'static str],
    /// The statement ends before the first paragraph starting with one of these
    /// (case-insensitive).
    pub stop_before: &'static [&'static str],
}

/// Dropped inside every profile body.
const COMMON_DROP: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "figcaption",
    ".media",
    ".field--name-field-image",
    ".field--name-field-media",
    ".image-caption",
    ".caption",
    ".credit",
    ".photo-credit",
    "[class*=share]",
    "[class*=social]",
    "[class*=related]",
    ".visually-hidden",
    ".sr-only",
    ".element-invisible",
];

pub static PROFILES: &[Profile] = &[
    Profile {
        name: "iom",
        hosts: &["*.iom.int"],
        body: &[
            "div.narrow-content div.field--type-text-with-summary",
            "div.node--type-blog-list div.field--name-field-contents",
            "div[data-history-node-id] div.field--name-body",
            "div[data-history-node-id] div.field--type-text-with-summary",
            "div[data-history-node-id]",
        ],
        title: &["h1.page-title", "h1"],
        date: &[
            "div.narrow-content time[datetime]",
            "div.date time",
            "div.date",
            ".field--name-field-published-date",
            "time[datetime]",
        ],
        drop: &[
            ".field--name-field-image-caption",
            ".field--name-field-credits",
            ".media-credit",
            ".tags",
            ".field--name-field-tags",
        ],
        stop_before: &[],
    },
    Profile {
        name: "un-press",
        hosts: &["press.un.org"],
        body: &[
            ".block-field-block-node-press-body",
            "div.field--name-body",
            r#"div[property="content:encoded"]"#,
        ],
        title: &["h1.page-header", "h1"],
        date: &[
            ".field--name-field-dated time",
            ".field--name-field-dated",
            "time[datetime]",
        ],
        drop: &[".field--name-field-symbol"],
        stop_before: &["For information media"],
    },
    Profile {
        name: "un-news",
        hosts: &["news.un.org"],
        body: &[".field--type-text-long"],
        title: &["h1.story-title", "h1"],
        date: &["time[datetime]", ".date"],
        drop: &[
            ".media",
            ".type-twitter",
            ".twitter-tweet",
            "script",
            "style",
        ],
        stop_before: &[],
    },
    Profile {
        name: "un-migration-network",
        hosts: &["migrationnetwork.un.org"],
        body: &[
            "article div.field--name-body",
            "div.field--name-body",
            "article .node__content",
        ],
        title: &["h1.page-title", "h1"],
        date: &[
            ".field--name-field-date time",
            ".field--name-field-date",
            "time[datetime]",
        ],
        drop: &[".field--name-field-tags", ".field--name-field-attachments"],
        stop_before: &[],
    },
];

fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host == suffix
                || (host.len() > suffix.len()
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.')
        }
        None => host == pattern,
    }
}

/// The profile for `host`, if any.
pub fn profile_for_host(host: &str) -> Option<&'static Profile> {
    PROFILES
        .iter()
        .find(|p| p.hosts.iter().any(|pat| host_matches(pat, host)))
}

/// A profile's selectors, parsed once per process.
pub(crate) struct Compiled {
    pub body: Vec<Selector>,
    pub title: Vec<Selector>,
    pub date: Vec<Selector>,
    /// `COMMON_DROP` and the profile's `drop` as one selector list: one match per element.
    pub drop: Option<Selector>,
}

fn parse_all(list: &[&str]) -> Vec<Selector> {
    list.iter()
        .filter_map(|s| Selector::parse(s).ok())
        .collect()
}

/// The parsed selectors of `p` (`None` if `p` is not one of [`PROFILES`]).
pub(crate) fn compiled(p: &Profile) -> Option<&'static Compiled> {
    static COMPILED: std::sync::LazyLock<Vec<Compiled>> = std::sync::LazyLock::new(|| {
        PROFILES
            .iter()
            .map(|p| Compiled {
                body: parse_all(p.body),
                title: parse_all(p.title),
                date: parse_all(p.date),
                drop: Selector::parse(
                    &COMMON_DROP
                        .iter()
                        .chain(p.drop)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .ok(),
            })
            .collect()
    });
    let i = PROFILES.iter().position(|q| std::ptr::eq(q, p))?;
    COMPILED.get(i)
}

/// Extracts the body with profile `p`; None when no body selector yields text.
pub(crate) fn extract_body(doc: &Html, p: &Profile, title: &str) -> Option<String> {
    let c = compiled(p)?;
    let skip = |e: &ElementRef| c.drop.as_ref().is_some_and(|d| d.matches(e));
    for selector in &c.body {
        let blocks = render::render_matches(doc, &[selector], &skip);
        let stop = (!p.stop_before.is_empty()).then_some(p.stop_before);
        let body = super::finish_body(blocks, title, stop);
        if !body.is_empty() {
            return Some(body);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let name = |h| profile_for_host(h).map(|p| p.name);
        assert_eq!(name("www.iom.int"), Some("iom"));
        assert_eq!(name("slovenia.iom.int"), Some("iom"));
        assert_eq!(name("iom.int"), Some("iom"));
        assert_eq!(name("notiom.int"), None);
        assert_eq!(name("press.un.org"), Some("un-press"));
        assert_eq!(name("news.un.org"), Some("un-news"));
        assert_eq!(
            name("migrationnetwork.un.org"),
            Some("un-migration-network")
        );
        assert_eq!(name("www.un.org"), None);
    }

    #[test]
    fn all_selectors_parse() {
        for p in PROFILES {
            for s in p
                .body
                .iter()
                .chain(p.title)
                .chain(p.date)
                .chain(p.drop)
                .chain(COMMON_DROP)
            {
                assert!(Selector::parse(s).is_ok(), "{}: {s}", p.name);
            }
            let c = compiled(p).expect("compiled");
            assert_eq!(
                (c.body.len(), c.title.len(), c.date.len()),
                (p.body.len(), p.title.len(), p.date.len())
            );
            assert!(c.drop.is_some(), "{}", p.name);
            assert!(compiled(p).is_some_and(|d| std::ptr::eq(c, d)));
        }
    }
}
