use super::*;

fn url(s: &str) -> url::Url {
    url::Url::parse(s).expect("test url")
}

fn generic(html: &str) -> Result<Article, ExtractError> {
    extract(html, &url("https://example.org/a"), None)
}

#[test]
fn normalize_is_idempotent_and_ignores_whitespace_edits() {
    let a = "  Title\u{a0} here \n\n\n\n para  one\r\n  continues\t\n\n- a\n- b \n\n";
    let n = normalize_text(a);
    assert_eq!(n, "Title here\n\npara one\ncontinues\n\n- a\n- b");
    assert_eq!(normalize_text(&n), n);
    let b = "Title here\n \t\npara   one\ncontinues\n\n\n- a\n-   b";
    assert_eq!(normalize_text(b), n);
    // NFC: "e" + combining acute == "é".
    assert_eq!(normalize_text("Cafe\u{301}"), "Caf\u{e9}");
    assert_eq!(normalize_text(""), "");
    assert_eq!(normalize_text(" \n \n"), "");
}

#[test]
fn entities_are_decoded() {
    let html = "<html><body><article><p>Fish &amp; chips &lt;tag&gt; &eacute;t&eacute; &#8220;quoted&#8221; &nbsp;here.</p></article></body></html>";
    let a = generic(html).expect("article");
    assert_eq!(
        a.body,
        "Fish & chips <tag> \u{e9}t\u{e9} \u{201c}quoted\u{201d} here."
    );
}

#[test]
fn script_style_template_noscript_are_dropped() {
    let html = "<html><head><style>p{color:red}</style></head><body><article>\
        <p>Visible text.</p><script>var hidden = 1;</script><style>.x{}</style>\
        <template><p>tpl</p></template><noscript>Enable JS</noscript><p>More text.</p>\
        </article></body></html>";
    let a = generic(html).expect("article");
    assert_eq!(a.body, "Visible text.\n\nMore text.");
}

#[test]
fn lists_are_dash_items() {
    let html = "<html><body><article><p>Intro:</p><ul><li>one</li><li> two\n  words </li></ul>\
        <ol><li>first</li></ol><p>End.</p></article></body></html>";
    let a = generic(html).expect("article");
    assert_eq!(a.body, "Intro:\n\n- one\n- two words\n\n- first\n\nEnd.");
}

#[test]
fn br_rules() {
    let html =
        "<html><body><article><p>line one<br>line two<br><br>new para</p></article></body></html>";
    let a = generic(html).expect("article");
    assert_eq!(a.body, "line one\nline two\n\nnew para");
}

#[test]
fn headings_are_paragraphs_and_title_not_repeated() {
    let html = "<html><head><title>Big News | Site</title></head><body><article><h1>Big News</h1>\
        <p>Para.</p><h2>Section</h2><p>Text.</p></article></body></html>";
    let a = generic(html).expect("article");
    assert_eq!(a.title, "Big News");
    assert_eq!(a.body, "Para.\n\nSection\n\nText.");
}

#[test]
fn decode_with_meta_charset_windows_1252() {
    let mut bytes = b"<html><head><meta charset=\"windows-1252\"></head><body>caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b" \x93q\x94</body></html>");
    let s = decode_html(&bytes, None);
    assert!(s.contains("caf\u{e9} \u{201c}q\u{201d}"), "{s}");
    // http-equiv form
    let mut bytes2 =
        b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">".to_vec();
    bytes2.push(0xE9);
    assert!(decode_html(&bytes2, None).ends_with('\u{e9}'));
}

#[test]
fn decode_with_header_charset_wins() {
    let bytes = b"<meta charset=\"utf-8\"><p>\xE9</p>";
    let s = decode_html(bytes, Some("text/html; charset=\"ISO-8859-1\""));
    assert!(s.contains("<p>\u{e9}</p>"), "{s}");
    // Unknown header charset falls through to meta (utf-8 here, lossy).
    let s = decode_html(bytes, Some("text/html; charset=bogus"));
    assert!(s.contains('\u{fffd}'));
}

#[test]
fn decode_bom_and_default() {
    let bytes = b"\xEF\xBB\xBFhello \xC3\xA9";
    assert_eq!(decode_html(bytes, None), "hello \u{e9}");
    let le: Vec<u8> = [0xFF, 0xFE, b'h', 0, b'i', 0].to_vec();
    assert_eq!(decode_html(&le, None), "hi");
    assert_eq!(decode_html(b"bad \xFF byte", None), "bad \u{fffd} byte");
    assert_eq!(decode_html(b"", Some("text/html")), "");
}

#[test]
fn empty_documents_are_errors() {
    assert!(matches!(generic(""), Err(ExtractError::Empty)));
    assert!(matches!(
        generic("<html><head><title>T</title></head><body> </body></html>"),
        Err(ExtractError::Empty)
    ));
    assert!(matches!(
        generic("<script>only()</script>"),
        Err(ExtractError::Empty)
    ));
}

#[test]
fn deep_nesting_does_not_panic_and_is_fast() {
    let n = 100_000;
    let html = format!("{}deep text{}", "<div>".repeat(n), "</div>".repeat(n));
    let t = std::time::Instant::now();
    let a = generic(&html).expect("article");
    assert_eq!(a.body, "deep text");
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
}

#[test]
fn body_selector_overrides_and_validates() {
    let html = "<html><body><div class=a>First <b>bold</b></div><article><p>Article text is long enough to win.</p></article><div class=a>Second</div></body></html>";
    let a = extract(html, &url("https://www.iom.int/x"), Some("div.a")).expect("article");
    assert_eq!(a.profile, "selector");
    assert_eq!(a.body, "First bold\n\nSecond");
    assert!(matches!(
        extract(html, &url("https://www.iom.int/x"), Some("div[")),
        Err(ExtractError::BadSelector(s, _)) if s == "div["
    ));
    assert!(matches!(
        extract(html, &url("https://www.iom.int/x"), Some("table")),
        Err(ExtractError::Empty)
    ));
}

#[test]
fn profile_falls_back_to_generic() {
    let html = "<html><body><nav><a href=/>Who we are</a></nav><article><p>Some text that is a statement, with commas, and more than enough characters.</p></article></body></html>";
    let a = extract(html, &url("https://www.iom.int/news/x"), None).expect("article");
    assert_eq!(a.profile, "generic");
    assert!(!a.body.contains("Who we are"));
}

#[test]
fn published_from_various_sources() {
    let ld = r#"<html><head><script type="application/ld+json">{"@graph":[{"@type":"NewsArticle","datePublished":"2020-01-02T03:04:05+00:00"}]}</script></head><body><article><p>Text here.</p></article></body></html>"#;
    assert_eq!(
        generic(ld).expect("a").published.as_deref(),
        Some("2020-01-02T03:04:05Z")
    );
    let meta = r#"<html><head><meta property="article:published_time" content="2019-05-06"></head><body><article><p>Text here.</p></article></body></html>"#;
    assert_eq!(
        generic(meta).expect("a").published.as_deref(),
        Some("2019-05-06")
    );
    let time = r#"<html><body><article><time datetime="2018-12-10T12:00:00Z">10 December 2018</time><p>Text here.</p></article></body></html>"#;
    assert_eq!(
        generic(time).expect("a").published.as_deref(),
        Some("2018-12-10T12:00:00Z")
    );
    let none = "<html><body><article><p>Text of 12 December 2018.</p></article></body></html>";
    assert_eq!(generic(none).expect("a").published, None);
}

#[test]
fn never_panics_on_odd_input() {
    for html in [
        "<",
        "</",
        "<<>>",
        "<div",
        "<p>\u{0}</p>",
        "<table><td>x",
        "<ul><li><ul><li>nested</ul>after",
        "<svg><p>in svg</p></svg>",
        "<!-- <div> -->",
        "<script>",
        "<a href='x'>link only</a>",
        "<pre>  keep\n  lines </pre>",
        "<br><br><br>",
        "\u{feff}<p>bom</p>",
    ] {
        let _ = generic(html);
        let _ = extract(html, &url("https://press.un.org/en/x"), None);
        let _ = extract(html, &url("https://press.un.org/en/x"), Some("p"));
    }
}

#[test]
fn forced_profile() {
    let html = "<html><body><nav>Menu</nav><div class=\"narrow-content\"><div class=\"field--type-text-with-summary\"><p>Mirror text.</p></div></div>\
        <article><p>Some other article text that is long, with commas, and words.</p></article></body></html>";
    let u = url("https://mirror.example.org/news/x");
    let a = extract_for_source(html, &u, None, Some("iom")).expect("forced");
    assert_eq!(
        (a.profile.as_str(), a.body.as_str()),
        ("iom", "Mirror text.")
    );
    let g = extract_for_source(html, &url("https://www.iom.int/x"), None, Some("generic"))
        .expect("generic");
    assert_eq!(g.profile, "generic");
    let h =
        extract_for_source(html, &url("https://www.iom.int/x"), None, Some("nope")).expect("host");
    assert_eq!(h.profile, "iom");
}
