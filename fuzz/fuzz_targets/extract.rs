//! Arbitrary bytes through `decode_html` + `extract_for_source`: must never
//! panic, whatever the charset, markup or profile.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/extract/mod.rs"]
mod extract;

use libfuzzer_sys::fuzz_target;

const URLS: &[&str] = &[
    "https://example.org/news/a",
    "https://www.iom.int/news/a",
    "https://press.un.org/en/2024/a.doc.htm",
];
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/html; charset=utf-8"),
    Some("text/html; charset=windows-1252"),
    Some("text/html; charset=Shift_JIS"),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks URL, content type and selector mode; the rest is the page.
    let Some((&mode, page)) = data.split_first() else {
        return;
    };
    let url = url::Url::parse(URLS[usize::from(mode) % URLS.len()]).expect("static url");
    let content_type = CONTENT_TYPES[usize::from(mode >> 2) % CONTENT_TYPES.len()];
    let html = extract::decode_html(page, content_type);
    let selector = (mode & 0x10 != 0).then_some("article p, div.content");
    let profile = (mode & 0x20 != 0).then_some("generic");
    if let Ok(article) = extract::extract_for_source(&html, &url, selector, profile) {
        // Output invariants: normalized and never empty.
        assert!(!article.body.is_empty());
        assert_eq!(extract::normalize_text(&article.body), article.body);
    }
});
