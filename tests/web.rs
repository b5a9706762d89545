//! The web change log, through the real router on 127.0.0.1 over a database filled through the
//! public `Store` API: content, pagination, filters, escaping, the Atom feed, /healthz,
//! /metrics, and that nothing but GET/HEAD is served.

use std::sync::Arc;
use std::time::Duration;

use presswatch::check::CycleReport;
use presswatch::config::WebConfig;
use presswatch::fetch::Validators;
use presswatch::store::{ChangeKind, CheckResult, NewChange, NewVersion, Store};
use presswatch::web::{self, AppState, Health, Metrics};
use tokio_util::sync::CancellationToken;

const SCRIPT_TITLE: &str = "Alert <script>alert(1)</script> & \"quotes\"";
const PERCENT_TITLE: &str = "100% of_funds pledged";

struct Server {
    base: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(fill: impl FnOnce(&Store), health: Health) -> Server {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(Store::open(&dir.path().join("p.db")).expect("open"));
        fill(&store);
        let metrics = Arc::new(Metrics::new());
        let state = AppState::new(
            store.clone(),
            &WebConfig::default(),
            metrics.clone(),
            Arc::new(health),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(web::serve(listener, state, shutdown.clone()));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Server {
            base,
            client,
            shutdown,
            task,
            store,
            metrics,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = res.text().await.expect("body");
        (status, ct, body)
    }

    async fn ok(&self, path: &str) -> String {
        let (status, _, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}:\n{body}");
        body
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("graceful shutdown in time")
            .expect("join")
            .expect("serve");
    }
}

fn version(title: &str, body: &str) -> NewVersion {
    NewVersion {
        title: title.into(),
        published: Some("2026-01-01".into()),
        body: body.into(),
        text_hash: presswatch::util::sha256_hex(format!("{title}\n\n{body}").as_bytes()),
        raw_html: presswatch::store::RawHtml::Plain(
            format!("<h1>{title}</h1><p>{body}</p>").into_bytes(),
        ),
        raw_hash: presswatch::util::sha256_hex(body.as_bytes()),
        extractor_version: 1,
        profile: "generic".into(),
    }
}

fn change(kind: ChangeKind, baseline: bool, added: usize, removed: usize) -> NewChange {
    NewChange {
        kind,
        words_added: added,
        words_removed: removed,
        baseline,
        alert_to: vec!["a@example.org".into()],
        digest: None,
    }
}

/// Store a new version of `url` (tracking it first) at time `at`; returns the change id.
fn commit(s: &Store, url: &str, source: &str, at: &str, v: NewVersion, c: NewChange) -> i64 {
    s.ensure_page(url, source, c.baseline, at).expect("page");
    let page = s.page_by_url(url).expect("q").expect("page");
    s.commit_check(
        &page,
        &CheckResult::NewVersion {
            version: v.into(),
            validators: Validators::default(),
            change: c,
        },
        at,
    )
    .expect("commit")
    .expect("change id")
}

fn ts(minute: u32) -> String {
    format!(
        "2026-03-{:02}T{:02}:{:02}:00Z",
        1 + minute / 1440,
        (minute / 60) % 24,
        minute % 60
    )
}

const BODY_V1: &str = "The Director General welcomed the agreement.\n\nIt covers five regions.\n\nUnchanged middle.\n\nMore to follow.";
const BODY_V2: &str = "The Director General welcomed the landmark agreement.\n\nIt covers six regions.\n\nUnchanged middle.\n\nMore to follow.";

/// The story: a baseline page later edited, an escaped title, a literal-% title, a removal,
/// and 60 bulk statements for pagination. Returns nothing; tests find rows by URL.
fn fill(s: &Store) {
    // Baseline v1 (hidden), then a real edit v2.
    commit(
        s,
        "https://www.iom.int/news/agreement",
        "iom",
        &ts(0),
        version("Agreement welcomed", BODY_V1),
        change(ChangeKind::New, true, 0, 0),
    );
    for i in 0..60 {
        commit(
            s,
            &format!("https://press.un.org/bulk/{i}"),
            "un-press",
            &ts(10 + i),
            version(&format!("Bulk statement number {i}"), "Some words here."),
            change(ChangeKind::New, false, 0, 0),
        );
    }
    commit(
        s,
        "https://www.iom.int/news/agreement",
        "iom",
        &ts(100),
        version("Agreement welcomed", BODY_V2),
        change(ChangeKind::Changed, false, 2, 1),
    );
    commit(
        s,
        "https://www.iom.int/news/script",
        "iom",
        &ts(101),
        version(SCRIPT_TITLE, "Body with <b>tags</b> & ampersands."),
        change(ChangeKind::New, false, 0, 0),
    );
    commit(
        s,
        "https://www.iom.int/news/percent",
        "iom",
        &ts(102),
        version(PERCENT_TITLE, "Pledges."),
        change(ChangeKind::New, false, 0, 0),
    );
    // A removal of an earlier bulk page.
    let page = s
        .page_by_url("https://press.un.org/bulk/0")
        .expect("q")
        .expect("page");
    s.commit_check(
        &page,
        &CheckResult::Gone {
            status: 404,
            change: Some(change(ChangeKind::Removed, false, 0, 3)),
        },
        &ts(103),
    )
    .expect("gone");
}

fn healthy() -> Health {
    Health::new(Duration::from_secs(1800), chrono::Utc::now())
}

fn change_id(s: &Store, url: &str, kind: ChangeKind) -> i64 {
    let page = s.page_by_url(url).expect("q").expect("page");
    s.page_changes(page.id)
        .expect("changes")
        .into_iter()
        .find(|c| c.kind == kind)
        .expect("change")
        .id
}

#[tokio::test]
async fn change_log_lists_newest_first_escaped_and_paginated() {
    let srv = Server::start(fill, healthy()).await;
    let (status, ct, body) = srv.get("/").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("<meta name=\"viewport\""), "viewport meta");
    assert!(
        !body.contains("<script"),
        "no script element at all:\n{body}"
    );
    assert!(
        body.contains("Alert &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;")
            || body.contains("Alert &lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quotes\""),
        "escaped title:\n{body}"
    );
    // 60 bulk + changed + script + percent + removed = 64 visible; the baseline is hidden.
    assert!(body.contains("64 changes"), "{body}");
    assert!(body.contains("page 1 of 2"), "{body}");
    let removed = body
        .find("class=\"kind kind-removed\"")
        .expect("removed first");
    let changed = body.find("class=\"kind kind-changed\"").expect("changed");
    assert!(removed < changed, "newest first");
    assert!(body.contains("Bulk statement number 59"));
    assert!(
        !body.contains("Bulk statement number 5<"),
        "page 1 holds 50 rows"
    );
    assert!(body.contains("href=\"/?page=2\""), "older link:\n{body}");

    let page2 = srv.ok("/?page=2").await;
    assert!(page2.contains("page 2 of 2"));
    assert!(page2.contains("Bulk statement number 0<"), "{page2}");
    assert!(page2.contains("href=\"/\""), "newer link");
    assert!(!page2.contains("Older"), "last page");
    assert!(
        !page2.contains("Agreement welcomed</a>"),
        "the baseline stays hidden"
    );
    // Out of range or junk page numbers do not fail.
    assert!(srv.ok("/?page=99").await.contains("No changes."));
    srv.ok("/?page=abc&kind=bogus").await;

    let with_baseline = srv.ok("/?baseline=1").await;
    assert!(with_baseline.contains("65 changes"), "{with_baseline}");
    srv.stop().await;
}

#[tokio::test]
async fn change_log_filters_by_source_kind_and_title() {
    let srv = Server::start(fill, healthy()).await;
    let iom = srv.ok("/?source=iom").await;
    assert!(iom.contains("3 changes"), "{iom}");
    assert!(!iom.contains("Bulk statement"));
    assert!(iom.contains("<option value=\"iom\" selected>"), "{iom}");

    let removed = srv.ok("/?kind=removed").await;
    assert!(removed.contains("1 change<"), "{removed}");
    assert!(removed.contains("Bulk statement number 0"));

    let search = srv.ok("/?q=BULK+statement+number+42").await;
    assert!(
        search.contains("1 change<"),
        "case-insensitive title search:\n{search}"
    );
    // LIKE wildcards in the search match literally.
    let pct = srv.ok("/?q=%25").await;
    assert!(pct.contains("1 change<"), "{pct}");
    assert!(pct.contains("100% of_funds"));
    let underscore = srv.ok("/?q=100_").await;
    assert!(underscore.contains("0 changes"), "{underscore}");
    let script = srv.ok("/?q=%3Cscript%3E").await;
    assert!(script.contains("1 change<"), "{script}");
    assert!(
        script.contains("value=\"&lt;script&gt;\""),
        "search box escaped:\n{script}"
    );

    let combined = srv.ok("/?source=un-press&kind=new&q=number+1").await;
    // "number 1", "number 10".."number 19"
    assert!(combined.contains("11 changes"), "{combined}");
    let page_link = "href=\"/?source=un-press&amp;kind=new&amp;q=number+1&amp;page=2\"";
    let many = srv.ok("/?source=un-press").await;
    assert!(many.contains("61 changes"), "{many}");
    assert!(
        many.contains("href=\"/?source=un-press&amp;page=2\""),
        "filters kept in pager links"
    );
    let _ = page_link;
    srv.stop().await;
}

#[tokio::test]
async fn change_page_shows_the_diff_inline_and_side_by_side() {
    let srv = Server::start(fill, healthy()).await;
    let id = change_id(
        &srv.store,
        "https://www.iom.int/news/agreement",
        ChangeKind::Changed,
    );
    let inline = srv.ok(&format!("/changes/{id}")).await;
    assert!(
        inline.contains("<ins>landmark </ins>") || inline.contains("<ins>landmark</ins>"),
        "{inline}"
    );
    assert!(inline.contains("<del>five</del>"), "{inline}");
    assert!(inline.contains("<ins>six</ins>"), "{inline}");
    assert!(
        !inline.contains("More to follow"),
        "only one paragraph of context"
    );
    assert!(inline.contains("v1→v2"));
    let side = srv.ok(&format!("/changes/{id}?view=side")).await;
    assert!(side.contains("class=\"sbs\""), "{side}");
    assert!(side.contains("Before (v1)") && side.contains("After (v2)"));
    let full = srv.ok(&format!("/changes/{id}?context=all")).await;
    assert!(full.contains("More to follow"), "{full}");

    let new_id = change_id(
        &srv.store,
        "https://www.iom.int/news/script",
        ChangeKind::New,
    );
    let new = srv.ok(&format!("/changes/{new_id}")).await;
    assert!(
        new.contains("Body with &lt;b&gt;tags&lt;/b&gt; &amp; ampersands."),
        "{new}"
    );
    assert!(!new.contains("<script"), "{new}");
    assert!(!new.contains("<b>tags"), "{new}");

    let gone_id = change_id(
        &srv.store,
        "https://press.un.org/bulk/0",
        ChangeKind::Removed,
    );
    let gone = srv.ok(&format!("/changes/{gone_id}")).await;
    assert!(gone.contains("Last version (v1"), "{gone}");

    let (status, _, body) = srv.get("/changes/999999").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No change #999999"));
    let (status, _, _) = srv.get("/changes/abc").await;
    assert_eq!(status, 400);
    let (status, _, body) = srv.get("/nothing/here").await;
    assert_eq!(status, 404);
    assert!(body.contains("Nothing at /nothing/here"));
    srv.stop().await;
}

#[tokio::test]
async fn page_history_lists_versions_and_shows_any_one() {
    let srv = Server::start(fill, healthy()).await;
    let page = srv
        .store
        .page_by_url("https://www.iom.int/news/agreement")
        .expect("q")
        .expect("page");
    let latest = srv.ok(&format!("/pages/{}", page.id)).await;
    assert!(
        latest.contains("?version=1\"") && latest.contains("?version=2\""),
        "{latest}"
    );
    assert!(
        latest.contains("Version 2, fetched 2026-03-01 01:40:00 UTC"),
        "{latest}"
    );
    assert!(latest.contains("landmark agreement"));
    let v1 = srv.ok(&format!("/pages/{}?version=1", page.id)).await;
    assert!(v1.contains("Version 1, fetched"));
    assert!(v1.contains("welcomed the agreement."), "{v1}");
    assert!(v1.contains("<tr class=\"current\">"), "{v1}");
    let (status, _, _) = srv.get(&format!("/pages/{}?version=9", page.id)).await;
    assert_eq!(status, 404);
    let (status, _, _) = srv.get(&format!("/pages/{}?version=x", page.id)).await;
    assert_eq!(status, 400);
    let (status, _, _) = srv.get("/pages/424242").await;
    assert_eq!(status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn atom_feed_parses_and_links_back() {
    let srv = Server::start(fill, healthy()).await;
    let (status, ct, body) = srv.get("/feed.atom").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/atom+xml"), "{ct}");
    let feed = feed_rs::parser::parse(body.as_bytes()).expect("valid Atom");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert!(feed.id.starts_with("urn:presswatch:"), "{}", feed.id);
    assert!(feed.updated.is_some(), "feed updated");
    assert!(feed.title.is_some());
    assert_eq!(feed.entries.len(), web::FEED_SIZE);
    let first = &feed.entries[0];
    assert!(
        first
            .title
            .as_ref()
            .expect("title")
            .content
            .starts_with("Removed: ")
    );
    assert!(first.updated.is_some());
    let link = &first.links[0].href;
    assert!(
        link.starts_with(&srv.base) && link.contains("/changes/"),
        "{link}"
    );
    let script = feed
        .entries
        .iter()
        .find(|e| {
            e.title
                .as_ref()
                .is_some_and(|t| t.content.contains("<script>"))
        })
        .expect("the escaped title comes back unescaped from the parser");
    assert_eq!(
        script.title.as_ref().expect("t").content,
        format!("New: {SCRIPT_TITLE}")
    );
    let changed = feed
        .entries
        .iter()
        .find(|e| {
            e.title
                .as_ref()
                .is_some_and(|t| t.content.starts_with("Changed: "))
        })
        .expect("changed entry");
    let content = changed
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("diff content");
    assert!(content.contains(">six</ins>"), "{content}");
    // Ids are unique and stable.
    let mut ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), web::FEED_SIZE);
    let again = feed_rs::parser::parse(srv.ok("/feed.atom").await.as_bytes()).expect("feed");
    assert_eq!(again.entries[0].id, feed.entries[0].id);
    // Filters apply to the feed too.
    let iom =
        feed_rs::parser::parse(srv.ok("/feed.atom?source=iom").await.as_bytes()).expect("feed");
    assert_eq!(iom.entries.len(), 3);
    srv.stop().await;
}

#[tokio::test]
async fn empty_database_feed_and_log() {
    let srv = Server::start(|_| {}, healthy()).await;
    let body = srv.ok("/").await;
    assert!(body.contains("No changes."));
    let feed = feed_rs::parser::parse(srv.ok("/feed.atom").await.as_bytes()).expect("feed");
    assert!(feed.entries.is_empty());
    assert!(feed.updated.is_some());
    srv.stop().await;
}

#[tokio::test]
async fn healthz_follows_the_last_cycle() {
    // Just started: grace period.
    let srv = Server::start(
        |_| {},
        Health::new(Duration::from_secs(60), chrono::Utc::now()),
    )
    .await;
    let (status, ct, body) = srv.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/plain"));
    assert!(body.contains("first cycle not finished"), "{body}");
    srv.stop().await;

    // Started 10 minutes ago with a 1-minute schedule and no cycle finished: unhealthy.
    let started = chrono::Utc::now() - chrono::Duration::minutes(10);
    let health = Health::new(Duration::from_secs(60), started);
    let srv = Server::start(|_| {}, health).await;
    let (status, _, body) = srv.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no cycle finished since the start"), "{body}");
    srv.stop().await;

    // A cycle finished 5 minutes ago: stale. One finished just now: healthy.
    let health = Health::new(Duration::from_secs(60), started);
    health.record_cycle(chrono::Utc::now() - chrono::Duration::minutes(5), 10, 0);
    let health = Arc::new(health);
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(&dir.path().join("p.db")).expect("open"));
    let state = AppState::new(
        store,
        &WebConfig::default(),
        Arc::new(Metrics::new()),
        health.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let task = tokio::spawn(web::serve(listener, state, stop.clone()));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let res = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status().as_u16(), 503);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("last cycle finished 5m")
    );
    health.record_cycle(chrono::Utc::now(), 10, 1);
    let res = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("10 pages checked, 1 failed")
    );

    // `presswatch healthcheck`'s client agrees.
    let cfg = WebConfig {
        listen: Some(addr.to_string()),
        base_url: None,
    };
    assert!(web::healthcheck(&cfg).await.is_ok());
    health.record_cycle(chrono::Utc::now() - chrono::Duration::hours(1), 1, 0);
    let e = web::healthcheck(&cfg).await.expect_err("stale");
    assert!(
        e.contains("HTTP 503") && e.contains("last cycle finished"),
        "{e}"
    );
    stop.cancel();
    task.await.expect("join").expect("serve");
    let e = web::healthcheck(&cfg).await.expect_err("nothing listening");
    assert!(e.contains("/healthz"), "{e}");
    let e = web::healthcheck(&WebConfig::default())
        .await
        .expect_err("not configured");
    assert!(e.contains("[web] listen is not configured"), "{e}");
}

#[tokio::test]
async fn metrics_expose_cycles_changes_failures_and_outbox() {
    let srv = Server::start(fill, healthy()).await;
    let report = CycleReport {
        pages_checked: 7,
        new: 2,
        changed: 1,
        failed: 2,
        failures: vec![
            "GET https://x/a: timed out after 30s".into(),
            "GET https://x/b: HTTP 503".into(),
        ],
        failure_kinds: [("timeout", 1), ("http-5xx", 1)].into_iter().collect(),
        ..Default::default()
    };
    srv.metrics
        .record_cycle(&report, Duration::from_secs(3), 1.7e9);
    let (status, ct, body) = srv.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        ct.contains("openmetrics-text") || ct.starts_with("text/plain"),
        "{ct}"
    );
    for needle in [
        "presswatch_cycles_total 1",
        "presswatch_pages_checked_total 7",
        "presswatch_check_failures_total{kind=\"timeout\"} 1",
        "presswatch_check_failures_total{kind=\"http-5xx\"} 1",
        "presswatch_changes_total{kind=\"new\"} 2",
        "presswatch_changes_total{kind=\"changed\"} 1",
        "presswatch_changes_total{kind=\"removed\"} 0",
        "presswatch_outbox_alerts{status=\"pending\"} 64",
        "presswatch_outbox_alerts{status=\"failed\"} 0",
        "presswatch_cycle_duration_seconds_bucket",
        "presswatch_cycle_duration_seconds_count 1",
        "presswatch_last_cycle_timestamp_seconds",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn only_get_and_head_are_served() {
    let srv = Server::start(fill, healthy()).await;
    for path in [
        "/",
        "/feed.atom",
        "/healthz",
        "/metrics",
        "/changes/1",
        "/pages/1",
    ] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let res = srv
                .client
                .request(method.clone(), format!("{}{path}", srv.base))
                .body("x=1")
                .send()
                .await
                .expect("request");
            assert_eq!(res.status().as_u16(), 405, "{method} {path}");
        }
        let res = srv
            .client
            .head(format!("{}{path}", srv.base))
            .send()
            .await
            .expect("head");
        assert_eq!(res.status().as_u16(), 200, "HEAD {path}");
        assert!(res.text().await.expect("body").is_empty());
    }
    let (_, _, _) = srv.get("/").await;
    let res = srv
        .client
        .get(format!("{}/", srv.base))
        .send()
        .await
        .expect("get");
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    srv.stop().await;
}

// ---- measurements (run with `--ignored --nocapture`, preferably `--release`) ----

/// Fill `db` with `pages` pages × `per_page` versions and as many changes, in one transaction.
fn fill_bulk(path: &std::path::Path, pages: i64, per_page: i64) {
    drop(Store::open(path).expect("migrate"));
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("tx");
    {
        let mut page = tx
            .prepare("INSERT INTO pages (id, url, source, first_seen_at) VALUES (?1, ?2, ?3, ?4)")
            .expect("prep");
        let mut ver = tx
            .prepare(
                "INSERT INTO versions (page_id, version, fetched_at, title, published, body, text_hash,
                   raw_html, extractor_version, profile) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, x'00', 1, 'generic')",
            )
            .expect("prep");
        let mut chg = tx
            .prepare(
                "INSERT INTO changes (page_id, kind, detected_at, from_version, to_version, words_added,
                   words_removed, baseline) VALUES (?1, ?2, ?3, ?4, ?5, 3, 2, 0)",
            )
            .expect("prep");
        let sources = [
            "iom",
            "iom-slovenia",
            "un-press",
            "un-news",
            "un-migration-network",
        ];
        for p in 1..=pages {
            let source = sources[(p as usize) % sources.len()];
            page.execute(rusqlite::params![
                p,
                format!("https://www.iom.int/news/statement-{p}"),
                source,
                "2026-01-01T00:00:00Z"
            ])
            .expect("page");
            for v in 1..=per_page {
                let minute = v * pages + p;
                let at = format!(
                    "2026-{:02}-{:02}T{:02}:{:02}:00Z",
                    1 + (minute / 40_000) % 12,
                    1 + (minute / 1440) % 28,
                    (minute / 60) % 24,
                    minute % 60
                );
                ver.execute(rusqlite::params![
                    p,
                    v,
                    at,
                    format!("IOM statement {p} on migration, revision {v}"),
                    format!("Paragraph one of statement {p}.\n\nParagraph two, revision {v}."),
                    format!("{p}-{v}")
                ])
                .expect("version");
                chg.execute(rusqlite::params![
                    p,
                    if v == 1 { "new" } else { "changed" },
                    at,
                    if v == 1 { None } else { Some(v - 1) },
                    v
                ])
                .expect("change");
            }
        }
    }
    tx.commit().expect("commit");
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Render time of `/` (and friends) with 100,000 changes over 10,000 pages. Set
/// `PRESSWATCH_BENCH_DB=path` to keep the database (e.g. to measure the daemon's RSS on it).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement: cargo test --release --test web -- --ignored --nocapture"]
async fn render_time_with_100k_changes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = std::env::var_os("PRESSWATCH_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("bench.db"));
    let _ = std::fs::remove_file(&path);
    let t = std::time::Instant::now();
    fill_bulk(&path, 10_000, 10);
    println!(
        "filled 10,000 pages / 100,000 versions / 100,000 changes in {:?}",
        t.elapsed()
    );
    let store = Arc::new(Store::open(&path).expect("open"));
    let state = AppState::new(
        store,
        &WebConfig::default(),
        Arc::new(Metrics::new()),
        Arc::new(healthy()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let task = tokio::spawn(web::serve(listener, state, stop.clone()));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for path in [
        "/",
        "/?page=1000",
        "/?source=un-press",
        "/?kind=new",
        "/?q=statement+4242",
        "/?q=migration",
        "/changes/50000",
        "/pages/4242",
        "/feed.atom",
        "/metrics",
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..21 {
            let t = std::time::Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("get");
            assert_eq!(res.status().as_u16(), 200, "{path}");
            size = res.bytes().await.expect("body").len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "GET {path:<22} median {:>7.2} ms  p95 {:>7.2} ms  first {:>7.2} ms  {size} bytes",
            percentile(times.clone(), 0.5),
            percentile(times.clone(), 0.95),
            times[0]
        );
    }
    stop.cancel();
    task.await.expect("join").expect("serve");
}
