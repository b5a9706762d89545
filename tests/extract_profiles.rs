//! Site-profile fixtures: every page extracts to exactly its expected text
//! (`NAME.txt` == "{title}\n\n{body}\n"), with the expected profile and date,
//! and no site chrome leaks into the text.

use presswatch::extract::{self, Article};
use std::path::PathBuf;

/// Fixture manifest: file (under tests/fixtures), page URL, expected profile,
/// expected `published`.
const FIXTURES: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "iom/statement-network",
        "https://www.iom.int/news/statement-un-network-migration-formal-endorsement-global-compact-migration",
        "iom",
        Some("2018-12-19T12:00:00Z"),
    ),
    (
        "iom/statement-slovenia",
        "https://slovenia.iom.int/news/iom-lauds-adoption-global-compact-migration-0",
        "iom",
        Some("2018-12-10T12:00:00Z"),
    ),
    (
        "iom/press-image-caption",
        "https://www.iom.int/news/iom-scales-shelter-support-floods-displace-thousands-northern-mozambique",
        "iom",
        Some("2024-02-16T09:30:00Z"),
    ),
    (
        "iom/blog-blockquote",
        "https://www.iom.int/blogs/why-data-missing-migrants-matters-more-ever",
        "iom",
        Some("2023-06-20T08:00:00Z"),
    ),
    (
        "iom/story-list",
        "https://guinea.iom.int/stories/returning-home-how-reintegration-support-helps-migrants-start-again",
        "iom",
        Some("2023-03-02"),
    ),
    (
        "iom/press-factbox",
        "https://kazakhstan.iom.int/news/new-report-remittances-remain-lifeline-families-central-asia",
        "iom",
        Some("2024-05-14T06:00:00Z"),
    ),
    (
        "un/press-ga12113",
        "https://press.un.org/en/2018/ga12113.doc.htm",
        "un-press",
        Some("2018-12-19T12:00:00Z"),
    ),
    (
        "un/press-sgsm19410",
        "https://press.un.org/en/2018/sgsm19410.doc.htm",
        "un-press",
        Some("2018-12-10T12:00:00Z"),
    ),
    (
        "un/press-sc15600",
        "https://press.un.org/en/2024/sc15600.doc.htm",
        "un-press",
        Some("2024-02-28T15:00:00Z"),
    ),
    (
        "un/news-compact-adopted",
        "https://news.un.org/en/story/2018/12/1028041",
        "un-news",
        Some("2018-12-10T14:25:00Z"),
    ),
    (
        "un/news-mediterranean",
        "https://news.un.org/en/story/2024/01/1145107",
        "un-news",
        Some("2024-01-16T10:00:00Z"),
    ),
    (
        "un/news-child-detention",
        "https://news.un.org/en/story/2022/11/1130912",
        "un-news",
        Some("2022-11-20T09:00:00Z"),
    ),
    (
        "un/mignet-migrants-day",
        "https://migrationnetwork.un.org/statements/statement-un-network-migration-international-migrants-day",
        "un-migration-network",
        Some("2023-12-18T08:00:00Z"),
    ),
    (
        "un/mignet-imrf",
        "https://migrationnetwork.un.org/statements/un-network-migration-welcomes-first-imrf-progress-declaration",
        "un-migration-network",
        Some("2022-05-20T12:00:00Z"),
    ),
    (
        "un/mignet-return",
        "https://migrationnetwork.un.org/statements/ensuring-safe-and-dignified-return-and-sustainable-reintegration",
        "un-migration-network",
        Some("2021-02-24T12:00:00Z"),
    ),
];

/// Menu and breadcrumb chrome: never a line of extracted text, profile or generic.
const MENU_CHROME: &[&str] = &[
    "-",
    "Who we are",
    "Who We Are",
    "Our Work",
    "What We Do",
    "Partnerships",
    "Highlights",
    "Where we work",
    "- Where we work",
    "Take Action",
    "- Take Action",
    "Work with us",
    "Get involved",
    "Data and Research",
    "- Data and Research",
    "Data and Resources",
    "- Data and Resources",
    "2030 Agenda",
    "- 2030 Agenda",
    "About",
    "IOM Global",
    "Cross-cutting (Global)",
    "Skip to main content",
    "News -",
    "Global",
];

/// Other page chrome (share and related boxes, tags, footers, tails): never a
/// line of profile-extracted text.
const PAGE_CHROME: &[&str] = &[
    "Share this",
    "Facebook",
    "Twitter",
    "Related News",
    "Related Stories",
    "Related Press Releases",
    "Contact",
    "Statements",
    "Home",
    "Press Release",
    "Subscribe to our newsletter",
    "For information media. Not an official record.",
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> (String, String) {
    let dir = fixture_dir();
    let html = std::fs::read_to_string(dir.join(format!("{name}.html")))
        .unwrap_or_else(|e| panic!("{name}.html: {e}"));
    let expected = std::fs::read_to_string(dir.join(format!("{name}.txt")))
        .unwrap_or_else(|e| panic!("{name}.txt: {e}"));
    (html, expected)
}

fn run(name: &str, url: &str) -> Article {
    let (html, _) = load(name);
    let url = url::Url::parse(url).expect("fixture url");
    extract::extract(&html, &url, None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn fixtures_extract_exactly() {
    let mut failures = Vec::new();
    for &(name, url, profile, published) in FIXTURES {
        let (_, expected) = load(name);
        let a = run(name, url);
        let got = format!("{}\n\n{}\n", a.title, a.body);
        if got != expected {
            failures.push(format!(
                "{name}: text differs\n--- expected\n{expected}\n--- got\n{got}"
            ));
        }
        if a.profile != profile {
            failures.push(format!("{name}: profile {} != {profile}", a.profile));
        }
        if a.published.as_deref() != published {
            failures.push(format!(
                "{name}: published {:?} != {published:?}",
                a.published
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn no_chrome_in_extracted_text() {
    for &(name, url, _, _) in FIXTURES {
        let a = run(name, url);
        for line in a.title.lines().chain(a.body.lines()) {
            assert!(
                !MENU_CHROME.contains(&line.trim()) && !PAGE_CHROME.contains(&line.trim()),
                "{name}: chrome line {line:?} in extracted text"
            );
        }
        for needle in [
            "WHO WE ARE",
            "Our WorkAs the leading",
            "addtoany",
            "dataLayer",
        ] {
            assert!(!a.body.contains(needle), "{name}: {needle:?} leaked");
        }
    }
}

#[test]
fn body_does_not_repeat_title() {
    for &(name, url, _, _) in FIXTURES {
        let a = run(name, url);
        let first = a.body.split("\n\n").next().unwrap_or("");
        assert_ne!(first, a.title, "{name}: body starts with the title");
        assert!(!a.title.is_empty(), "{name}: empty title");
    }
}

#[test]
fn text_is_normalized() {
    for &(name, url, _, _) in FIXTURES {
        let a = run(name, url);
        assert_eq!(extract::normalize_text(&a.body), a.body, "{name}");
        assert!(
            !a.body.contains("&amp;") && !a.body.contains("&nbsp;"),
            "{name}"
        );
    }
}

/// The seed statements keep their sentences verbatim, so edits to the page
/// text show up in the body.
#[test]
fn seed_statements_track_edits() {
    let (html, _) = load("iom/statement-slovenia");
    let sentence = "There are nearly 260 million international migrants in the world";
    assert!(html.contains(sentence));
    let url = url::Url::parse(FIXTURES[1].1).expect("url");
    let before = extract::extract(&html, &url, None).expect("before");
    let edited = html.replace(
        sentence,
        "There are nearly 272 million international migrants in the world",
    );
    let after = extract::extract(&edited, &url, None).expect("after");
    assert_ne!(before.body, after.body);
    assert!(after.body.contains("272 million"));
    assert_eq!(before.title, after.title);
}

/// The www.iom.int page and its country-site copy are the same story.
#[test]
fn country_copy_is_recognisable() {
    let a = run(FIXTURES[0].0, FIXTURES[0].1);
    assert!(
        a.body
            .starts_with("New York/Geneva — The new United Nations Network on Migration")
    );
    assert!(
        a.body
            .ends_with("For more information please contact Charbel Raji, raji1@un.org")
    );
    let b = run(FIXTURES[1].0, FIXTURES[1].1);
    assert!(b.body.ends_with("ldoyle@iom.int"));
}

/// With the profile's selectors gone, the generic extractor still finds the statement
/// and still leaves the chrome out.
#[test]
fn generic_fallback_on_fixtures() {
    for &(name, url, _, _) in FIXTURES {
        let (html, expected) = load(name);
        let url = url::Url::parse(url).expect("url");
        // Render through the generic extractor by pretending the page is elsewhere.
        let other = url::Url::parse(&format!("https://example.org{}", url.path())).expect("url");
        let a = extract::extract(&html, &other, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.profile, "generic");
        let expected_body = expected.split_once("\n\n").map_or("", |(_, b)| b);
        // Most of the expected paragraphs are found.
        let paras: Vec<&str> = expected_body.trim_end().split("\n\n").collect();
        let found = paras.iter().filter(|p| a.body.contains(*p)).count();
        assert!(
            found * 10 >= paras.len() * 7,
            "{name}: generic found {found}/{} paragraphs:\n{}",
            paras.len(),
            a.body
        );
        for line in a.body.lines() {
            assert!(
                !MENU_CHROME.contains(&line.trim()),
                "{name}: generic chrome line {line:?}"
            );
        }
    }
}
