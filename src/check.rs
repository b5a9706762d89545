//! One check cycle: discover → fetch → extract → compare → store (+ outbox) → deliver.
//!
//! This module only wires the stages together and decides what a fetch result means; it owns
//! no I/O of its own. The rules that keep alerts honest live here:
//! * a timeout, an HTTP error, a non-HTML answer, an error page or an empty extraction is a
//!   failed check: never a version, never an alert;
//! * a 404/410 is a removal only on the second consecutive check;
//! * texts are compared by their words (NFC, whitespace collapsed), so a whitespace-only edit
//!   is not a change;
//! * a version stored by an older extractor is re-extracted before comparing, so an upgrade
//!   of presswatch never alerts by itself;
//! * an extraction that suddenly loses most of the text must be seen twice before it is stored.

use std::sync::Arc;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{Config, Source, SourceKind};
use crate::discover;
use crate::extract::{self, EXTRACTOR_VERSION};
use crate::fetch::{Fetcher, Outcome};
use crate::notify::{self, DeliveryReport, Transport};
use crate::store::{
    ChangeKind, CheckCommit, CheckResult, NewChange, NewVersion, Page, RawHtml, Schedule, Store,
};
use crate::util::{now_rfc3339, sha256_hex, statement_text, word_count};

/// Nested sitemaps followed per source and cycle, at most.
const MAX_SITEMAPS: usize = 50;
/// An extraction that keeps less than this share of a long text's words is suspect.
const SHRINK_RATIO: f64 = 0.3;
const SHRINK_MIN_WORDS: usize = 100;

/// What a running presswatch shares between cycles.
pub struct Context {
    pub cfg: Config,
    pub store: Arc<Store>,
    pub fetcher: Fetcher,
    pub transport: Transport,
    /// Cancelled on SIGINT/SIGTERM: no new page check starts; running ones finish.
    pub shutdown: CancellationToken,
    /// Held for the life of the context: one running presswatch per database.
    _lock: std::fs::File,
}

impl Context {
    /// Open the database and build the fetcher and mail transport for a config.
    pub fn open(cfg: Config) -> anyhow::Result<Context> {
        let lock = lock_database(&cfg.database)?;
        let store = Arc::new(crate::store::Store::open(&cfg.database)?);
        let fetcher = Fetcher::new(&cfg.fetch)?;
        let state_dir = cfg
            .database
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let transport = Transport::from_config(&cfg.email, &state_dir)?;
        fetcher.restore_host_statuses(store.host_statuses()?);
        Ok(Context {
            cfg,
            store,
            fetcher,
            transport,
            shutdown: CancellationToken::new(),
            _lock: lock,
        })
    }
}

/// Take the `<database>.lock` file lock, or say who holds it.
fn lock_database(database: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let path = std::path::PathBuf::from(format!("{}.lock", database.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            write!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            anyhow::bail!(
                "another presswatch (pid {}) is already running on {}; stop it first",
                if pid.trim().is_empty() {
                    "?"
                } else {
                    pid.trim()
                },
                database.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", path.display())
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CycleOptions {
    /// Only this source.
    pub source: Option<String>,
    /// Check every tracked page, whatever its revisit schedule.
    pub all: bool,
}

/// What a cycle did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CycleReport {
    pub sources: usize,
    pub pages_checked: usize,
    pub unchanged: usize,
    pub new: usize,
    pub changed: usize,
    pub removed: usize,
    pub failed: usize,
    /// One line per failure: URL and reason.
    pub failures: Vec<String>,
    /// Failed page checks and discoveries by kind ("timeout", "http-5xx", "extraction", ...).
    pub failure_kinds: std::collections::BTreeMap<&'static str, usize>,
    pub interrupted: bool,
}

/// The result of one page check, for the report.
#[derive(Debug)]
enum PageOutcome {
    /// Feed-only page no longer in the feed: nothing to check it against.
    Skipped,
    Unchanged,
    Change(ChangeKind),
    /// Kind (for metrics) and a line naming the URL.
    Failed(&'static str, String),
}

impl CycleReport {
    /// Count one page check's outcome (and log a failure).
    fn count(&mut self, source: &Source, url: &str, outcome: PageOutcome) {
        self.pages_checked += 1;
        match outcome {
            PageOutcome::Unchanged => self.unchanged += 1,
            PageOutcome::Change(ChangeKind::New) => self.new += 1,
            PageOutcome::Change(ChangeKind::Changed) => self.changed += 1,
            PageOutcome::Change(ChangeKind::Removed) => self.removed += 1,
            PageOutcome::Skipped => self.pages_checked -= 1,
            PageOutcome::Failed(kind, reason) => {
                *self.failure_kinds.entry(kind).or_default() += 1;
                tracing::warn!(source = %source.name, url = %url, "{reason}");
                self.failed += 1;
                self.failures.push(reason);
            }
        }
    }
}

/// Run one cycle over the configured sources (or one of them).
pub async fn run_cycle(ctx: &Arc<Context>, opts: &CycleOptions) -> CycleReport {
    let sources: Vec<&Source> = ctx
        .cfg
        .sources
        .iter()
        .filter(|s| opts.source.as_deref().is_none_or(|n| n == s.name))
        .collect();
    let (committer, writer) = Committer::new(ctx.store.clone());
    let n_sources = sources.len();
    let checks = async move {
        let committer = committer;
        futures::future::join_all(
            sources
                .iter()
                .map(|s| run_source(ctx, s, opts.all, &committer)),
        )
        .await
        // `committer` dropped here: the writer finishes what is queued, then returns.
    };
    let (reports, ()) = tokio::join!(checks, writer.run());
    let mut total = CycleReport {
        sources: n_sources,
        ..Default::default()
    };
    for r in reports {
        total.pages_checked += r.pages_checked;
        total.unchanged += r.unchanged;
        total.new += r.new;
        total.changed += r.changed;
        total.removed += r.removed;
        total.failed += r.failed;
        total.failures.extend(r.failures);
        for (k, n) in r.failure_kinds {
            *total.failure_kinds.entry(k).or_default() += n;
        }
        total.interrupted |= r.interrupted;
    }
    // Host health (Retry-After pauses, circuit breaker) outlives this process.
    if let Err(e) = ctx.store.save_host_statuses(&ctx.fetcher.host_statuses()) {
        total.failures.push(e.to_string());
    }
    total
}

/// Deliver every due alert; problems are logged and returned in the report.
pub async fn deliver(ctx: &Context) -> DeliveryReport {
    match notify::deliver_due(
        &ctx.store,
        &ctx.cfg.email,
        &ctx.transport,
        ctx.cfg.web.base_url.as_deref(),
    )
    .await
    {
        Ok(r) => {
            for e in &r.errors {
                tracing::warn!("{e}");
            }
            r
        }
        Err(e) => {
            tracing::error!("alert delivery: {e}");
            DeliveryReport {
                errors: vec![e.to_string()],
                ..Default::default()
            }
        }
    }
}

async fn run_source(
    ctx: &Arc<Context>,
    source: &Source,
    all: bool,
    committer: &Committer,
) -> CycleReport {
    let mut report = CycleReport::default();
    let store = &ctx.store;
    let started = now_rfc3339();
    let first_done = match store.source_first_cycle_done(&source.name) {
        Ok(v) => v,
        Err(e) => {
            report.failed += 1;
            report.failures.push(format!("source {}: {e}", source.name));
            return report;
        }
    };
    let baseline = !first_done && !ctx.cfg.alert_on_first_run;

    // 1. Discovery and 2. the checks run together. A page never checked goes to the check
    //    queue as soon as a discovery document names it (the newest statements are on the
    //    first listing page); the other due pages follow once discovery is done.
    type Entries = std::collections::HashMap<String, discover::FeedEntry>;
    //    Two queues: pages discovery just found come before re-checks of known pages.
    let (queue, mut queued_rx) = tokio::sync::mpsc::unbounded_channel::<(Page, Arc<Entries>)>();
    let (due_queue, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(Page, Arc<Entries>)>();
    let producer = async move {
        let mut failures = Vec::new();
        let mut queued = std::collections::HashSet::new();
        let no_entries: Arc<Entries> = Arc::default();
        // Which known pages are due does not depend on what discovery finds, except for a
        // sitemap's <lastmod> and a feed-only source's entries: otherwise they go now.
        if source.fetch_pages && source.kind != SourceKind::Sitemap {
            match store.pages_of_source(&source.name) {
                Ok(pages) => {
                    let now = now_rfc3339();
                    for p in pages {
                        if is_due(&p, all, false, &now) {
                            queued.insert(p.id);
                            let _ = due_queue.send((p, no_entries.clone()));
                        }
                    }
                }
                Err(e) => failures.push(format!("source {}: {e}", source.name)),
            }
        }
        let discovery_started = std::time::Instant::now();
        // Found pages are added whenever the writer is free (never waiting for it: the
        // listing's next page is fetched meanwhile); what is left is added at the end.
        let mut pending: Vec<Url> = Vec::new();
        let mut add = |pending: &mut Vec<Url>, wait: bool| {
            let urls: Vec<&str> = pending.iter().map(Url::as_str).collect();
            let added = match wait {
                true => Some(store.ensure_pages(&urls, &source.name, baseline, &started)),
                false => store.try_ensure_pages(&urls, &source.name, baseline, &started),
            };
            match added {
                None => return,
                // A feed-only source compares feed entries, known once its feed is read.
                Some(Ok(fresh)) if source.fetch_pages => {
                    for p in fresh {
                        if queued.insert(p.id) {
                            let _ = queue.send((p, no_entries.clone()));
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => failures.push(format!("source {}: {e}", source.name)),
            }
            pending.clear();
        };
        let mut on_pages = |urls: &[Url]| {
            pending.extend_from_slice(urls);
            add(&mut pending, false);
        };
        let discovery = discover_source(ctx, source, &mut on_pages).await;
        if !pending.is_empty() {
            add(&mut pending, true);
        }
        if let Ok(d) = &discovery {
            tracing::info!(
                source = %source.name,
                pages = d.pages.len(),
                ms = discovery_started.elapsed().as_millis() as u64,
                "discovery done"
            );
        }
        let discovery_error = discovery.as_ref().err().cloned();
        let mut found = discovery.unwrap_or_default();

        // Every other tracked page of the source that is due, whether or not discovery still
        // lists it; a sitemap <lastmod> later than the page's last check makes it due now,
        // and those go first (latest first).
        let pages = match store.pages_of_source(&source.name) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("source {}: {e}", source.name));
                Vec::new()
            }
        };
        let now = now_rfc3339();
        let mut due: Vec<(Option<chrono::DateTime<chrono::Utc>>, Page)> = pages
            .into_iter()
            .filter(|p| !queued.contains(&p.id))
            .filter_map(|p| {
                let lastmod = Url::parse(&p.url)
                    .ok()
                    .and_then(|u| found.lastmod.get(&u))
                    .and_then(|m| parse_time(m));
                let checked = p.last_check_at.as_deref().and_then(parse_time);
                let modified = matches!((lastmod, checked), (Some(m), Some(c)) if m > c);
                // A feed-only statement costs nothing to compare while its feed lists it.
                let in_feed = !source.fetch_pages && found.entries.contains_key(&p.url);
                is_due(&p, all, modified || in_feed, &now)
                    .then_some((lastmod.filter(|_| modified), p))
            })
            .collect();
        due.sort_by_key(|d| std::cmp::Reverse(d.0));
        let entries = Arc::new(std::mem::take(&mut found.entries));
        for (_, p) in due {
            let _ = due_queue.send((p, entries.clone()));
        }
        (discovery_error, failures)
        // The queues are dropped here: the checks end when both are empty.
    };

    // Each check is its own task, so the runtime's threads share the per-page work (HTTP,
    // decoding, hashing); parsing and writing go to the blocking pool.
    let shared = Arc::new(source.clone());
    let consumer = async {
        let mut report = CycleReport::default();
        let found = futures::stream::poll_fn(|cx| queued_rx.poll_recv(cx));
        let known = futures::stream::poll_fn(|cx| due_rx.poll_recv(cx));
        let prefer_found = |_: &mut ()| futures::stream::PollNext::Left;
        let mut checks = futures::stream::select_with_strategy(found, known, prefer_found)
            .take_while(|_| futures::future::ready(!ctx.shutdown.is_cancelled()))
            .map(|(page, entries)| {
                let url = page.url.clone();
                let task = tokio::spawn(check_page(
                    ctx.clone(),
                    shared.clone(),
                    page,
                    entries,
                    committer.clone(),
                ));
                async move {
                    let checked = task.await.unwrap_or_else(|e| {
                        Checked::Done(PageOutcome::Failed(
                            "other",
                            format!("{url}: the check stopped: {e}"),
                        ))
                    });
                    (url, checked)
                }
            })
            .buffer_unordered(ctx.cfg.fetch.concurrency.max(1));
        // A check frees its slot once handed to the writer; it is counted once written.
        let mut writing = Vec::new();
        while let Some((url, checked)) = checks.next().await {
            match checked {
                Checked::Done(outcome) => report.count(source, &url, outcome),
                Checked::Writing(outcome, done) => writing.push((url, outcome, done)),
            }
        }
        for (url, outcome, done) in writing {
            let outcome = match done.await {
                Ok(Ok(_)) => outcome,
                Ok(Err(e)) => PageOutcome::Failed("store", format!("{url}: not recorded: {e}")),
                Err(_) => PageOutcome::Failed(
                    "store",
                    format!("{url}: not recorded: the database writer stopped"),
                ),
            };
            report.count(source, &url, outcome);
        }
        report
    };
    let ((discovery_error, failures), mut report) = tokio::join!(producer, consumer);
    if let Some(e) = &discovery_error {
        tracing::warn!(source = %source.name, "{e}");
        report.failed += 1;
        *report.failure_kinds.entry("discovery").or_default() += 1;
        report.failures.push(e.clone());
    }
    // Pages that could not be recorded or listed: a failed source check, not "ok".
    report.failed += failures.len();
    report.failures.extend(failures);
    report.interrupted = ctx.shutdown.is_cancelled();

    // 3. The source's cycle is done: its baseline is recorded once discovery worked.
    let status = match (&discovery_error, report.failed) {
        (Some(_), _) => "discovery failed",
        (None, 0) => "ok",
        (None, _) => "some pages failed",
    };
    let cycle_done = discovery_error.is_none() && !report.interrupted;
    if let Err(e) = store.finish_source(
        &source.name,
        &now_rfc3339(),
        status,
        discovery_error.as_deref(),
        cycle_done,
    ) {
        report.failures.push(format!("source {}: {e}", source.name));
    }
    report
}

/// Is a tracked page due for a check now (`forced`: a sitemap or feed says so)?
fn is_due(page: &Page, all: bool, forced: bool, now: &str) -> bool {
    all || forced || page.next_check_at.as_deref().is_none_or(|n| n <= now)
}

/// What discovery found for a source in this cycle.
#[derive(Debug, Default)]
struct Found {
    pages: Vec<Url>,
    lastmod: std::collections::HashMap<Url, String>,
    /// Feed-only sources: each entry's own text, by URL.
    entries: std::collections::HashMap<String, discover::FeedEntry>,
}

/// Fetch and parse a source's discovery document(s): nested sitemaps, listing pages up to
/// `max_pages`. Errors are one line naming the URL.
///
/// `on_pages` is given the new statement URLs of each document as soon as it is parsed.
async fn discover_source(
    ctx: &Context,
    source: &Source,
    on_pages: &mut (dyn FnMut(&[Url]) + Send),
) -> Result<Found, String> {
    let mut found = Found::default();
    if source.kind == SourceKind::Page {
        found.pages.push(crate::util::canonical_url(&source.url));
        on_pages(&found.pages);
        return Ok(found);
    }
    let mut seen_pages = std::collections::HashSet::new();
    let mut queue = vec![source.url.clone()];
    let mut visited: Vec<Url> = Vec::new();
    let limit = match source.kind {
        SourceKind::Sitemap => MAX_SITEMAPS,
        SourceKind::Listing => source.max_pages,
        _ => 1,
    };
    while let Some(doc_url) = queue.pop() {
        // Stopping: no further documents (the pages found so far are still recorded).
        if ctx.shutdown.is_cancelled() {
            break;
        }
        if visited.contains(&doc_url) {
            continue;
        }
        if visited.len() >= limit {
            if source.kind == SourceKind::Sitemap {
                tracing::warn!(source = %source.name, "more than {MAX_SITEMAPS} sitemaps; the rest are skipped this cycle");
            }
            break;
        }
        visited.push(doc_url.clone());
        let fetched = match ctx.fetcher.get_document(&doc_url).await {
            Ok(Outcome::Ok(f)) => f,
            Ok(Outcome::Gone(status)) => return Err(format!("GET {doc_url}: HTTP {status}")),
            Ok(Outcome::NotModified) => continue,
            // A later listing page failing keeps what the earlier pages found.
            Err(e) if visited.len() > 1 && source.kind == SourceKind::Listing => {
                tracing::warn!(source = %source.name, "{e}; pagination stops here");
                break;
            }
            Err(e) => return Err(e.to_string()),
        };
        let d = discover::parse(source, &fetched.final_url, &fetched.body)
            .map_err(|e| e.to_string())?;
        let before = found.pages.len();
        for p in d.pages {
            if seen_pages.insert(p.clone()) {
                found.pages.push(p);
            }
        }
        on_pages(&found.pages[before..]);
        found.lastmod.extend(d.lastmod);
        for e in d.entries {
            found.entries.insert(e.url.to_string(), e);
        }
        queue.extend(d.sitemaps);
        queue.extend(d.next_page);
    }
    Ok(found)
}

/// `<link rel="canonical" href>` from the head of a page, resolved and canonicalised.
fn canonical_link(body: &[u8], base: &Url) -> Option<Url> {
    static RE: std::sync::LazyLock<Option<regex::bytes::Regex>> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(r#"(?is)<link\s[^>]*rel\s*=\s*["']?canonical["']?[^>]*>"#).ok()
    });
    static HREF: std::sync::LazyLock<Option<regex::bytes::Regex>> =
        std::sync::LazyLock::new(|| {
            regex::bytes::Regex::new(r#"(?is)href\s*=\s*["']([^"']+)["']"#).ok()
        });
    let head = &body[..body.len().min(256 * 1024)];
    let tag = RE.as_ref()?.find(head)?;
    let href = HREF.as_ref()?.captures(tag.as_bytes())?.get(1)?;
    let href = std::str::from_utf8(href.as_bytes()).ok()?;
    let href = html_escape::decode_html_entities(href.trim());
    base.join(&href)
        .ok()
        .map(|u| crate::util::canonical_url(&u))
}

/// Content types that can hold a statement.
fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.contains("html") || ct.contains("xml") || ct.starts_with("text/")
    })
}

/// An error page served with status 200 ("soft 404").
fn looks_like_error_page(title: &str) -> bool {
    let t = title.trim().to_lowercase();
    const MARKERS: &[&str] = &[
        "page not found",
        "404 not found",
        "not found",
        "404",
        "access denied",
        "forbidden",
        "service unavailable",
        "internal server error",
        "error",
        "an error occurred",
        "just a moment...",
        "attention required!",
    ];
    MARKERS
        .iter()
        .any(|m| t == *m || t.starts_with(&format!("{m} ")) || t.starts_with(&format!("{m} |")))
}

/// The text two versions are compared by: title and body without the lines the source's
/// `ignore` rules match.
pub fn comparable_text(title: &str, body: &str, ignore: &[regex::Regex]) -> String {
    let text = statement_text(title, body);
    if ignore.is_empty() {
        return text;
    }
    text.split('\n')
        .filter(|line| !ignore.iter().any(|re| re.is_match(line.trim())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The hash two comparable texts are compared by: their words, so only a word edit is a change.
/// (SHA-256 of the words, as `split_whitespace` sees them, joined by single spaces.)
pub fn words_hash(text: &str) -> String {
    sha256_hex(crate::util::words_joined(text).0.as_bytes())
}

/// Who gets an alert for this change (empty: nobody), and in which digest.
fn alert_route(
    source: &Source,
    kind: ChangeKind,
    words_changed: usize,
) -> (Vec<String>, Option<String>) {
    let wanted = match kind {
        ChangeKind::New => source.notify.new,
        ChangeKind::Changed => source.notify.changed && words_changed >= source.min_change_words,
        ChangeKind::Removed => source.notify.removed,
    };
    if wanted {
        (source.to.clone(), source.digest.as_key())
    } else {
        (Vec::new(), None)
    }
}

async fn check_page(
    ctx: Arc<Context>,
    source: Arc<Source>,
    page: Page,
    entries: Arc<std::collections::HashMap<String, discover::FeedEntry>>,
    committer: Committer,
) -> Checked {
    let (ctx, source, page) = (&*ctx, &*source, &page);
    let at = now_rfc3339();
    let Decision {
        result,
        final_url,
        published: latest_published,
    } = match decide(ctx, source, page, entries.get(&page.url)).await {
        Ok(Some(r)) => r,
        Ok(None) => return Checked::Done(PageOutcome::Skipped),
        Err(e) => {
            return Checked::Done(PageOutcome::Failed("other", format!("{}: {e}", page.url)));
        }
    };
    let outcome = match &result {
        CheckResult::Unchanged { .. } => PageOutcome::Unchanged,
        CheckResult::NewVersion { change, .. } => PageOutcome::Change(change.kind),
        CheckResult::Gone {
            change: Some(_), ..
        } => PageOutcome::Change(ChangeKind::Removed),
        CheckResult::Gone {
            status,
            change: None,
        } => {
            if page.removed {
                PageOutcome::Unchanged
            } else {
                PageOutcome::Failed(
                    "gone",
                    format!(
                        "GET {}: HTTP {status} (recorded as removed if it persists at the next check)",
                        page.url
                    ),
                )
            }
        }
        CheckResult::Failed { kind, reason, .. } => PageOutcome::Failed(kind, reason.clone()),
    };
    // When is it due again? Scheduling data only: losing it to a crash makes the page due now.
    let published = match &result {
        CheckResult::NewVersion { version, .. } => version.published.clone(),
        _ => latest_published,
    };
    let (next, news) = next_check(
        &ctx.cfg.revisit,
        page,
        &result,
        published.as_deref(),
        chrono::Utc::now(),
    );
    let schedule = Schedule {
        next_check_at: next,
        last_news_at: news,
        final_url: final_url.filter(|f| f != &page.url),
    };
    match committer.submit(page.clone(), result, at, schedule).await {
        Ok(done) => Checked::Writing(outcome, done),
        Err(e) => Checked::Done(PageOutcome::Failed(
            "store",
            format!("{}: not recorded: {e}", page.url),
        )),
    }
}

/// A page check's outcome, or the outcome it will have once the writer committed it.
enum Checked {
    Done(PageOutcome),
    Writing(
        PageOutcome,
        tokio::sync::oneshot::Receiver<Result<Option<i64>, String>>,
    ),
}

/// A page check waiting to be written, and who waits for the result.
type Pending = (
    (Page, CheckResult, String, Schedule),
    tokio::sync::oneshot::Sender<Result<Option<i64>, String>>,
);

/// Most checks written in one transaction.
const MAX_GROUP: usize = 128;
/// How long the writer waits for more checks to join a group (benches/cycle, first cycle of
/// 2,000 pages, CPU s, median of 4: no wait 1.34, 2 ms 1.25, 5 ms 1.19, 10 ms 1.12, 20 ms
/// 1.08; 10 ms: 41 transactions of about 49 checks).
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// Hands finished checks to the [`Writer`].
#[derive(Clone)]
struct Committer {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

/// Writes the checks of a cycle in groups: the checks that finish within [`GATHER`] of each
/// other, or while the previous group was being written, go into one transaction
/// ([`Store::commit_checks`]: one savepoint per check). Under load that is one commit for
/// dozens of pages instead of two per page.
struct Writer {
    store: Arc<Store>,
    rx: tokio::sync::mpsc::Receiver<Pending>,
}

impl Committer {
    fn new(store: Arc<Store>) -> (Committer, Writer) {
        let (tx, rx) = tokio::sync::mpsc::channel(MAX_GROUP);
        (Committer { tx }, Writer { store, rx })
    }

    /// Queue a check for writing (waits while the queue is full); the receiver gets the
    /// result once its transaction committed or failed.
    async fn submit(
        &self,
        page: Page,
        result: CheckResult,
        at: String,
        schedule: Schedule,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Option<i64>, String>>, String> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send(((page, result, at, schedule), reply))
            .await
            .map_err(|_| "the database writer stopped".to_string())?;
        Ok(done)
    }
}

impl Writer {
    /// Until every [`Committer`] is gone and the queue is empty.
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_GROUP);
        while self.rx.recv_many(&mut batch, MAX_GROUP).await > 0 {
            // Let more checks join the group for a moment: a transaction's fixed cost (locks,
            // rewriting the same table and index pages, the WAL commit) is most of writing a
            // check. Nobody waits for the write but the cycle's tally.
            let deadline = tokio::time::Instant::now() + GATHER;
            while batch.len() < MAX_GROUP {
                match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    Ok(Some(p)) => batch.push(p),
                    _ => break,
                }
            }
            let (checks, replies): (Vec<_>, Vec<_>) =
                std::mem::take(&mut batch).into_iter().unzip();
            tracing::debug!(checks = checks.len(), "writing a group of checks");
            let store = self.store.clone();
            // Compressing HTML and writing SQLite: blocking work, off the async threads and
            // off the parsing pool: one writer, waiting on the disk as much as computing.
            let written = tokio::task::spawn_blocking(move || {
                let commits: Vec<CheckCommit<'_>> = checks
                    .iter()
                    .map(|(page, result, at, schedule)| CheckCommit {
                        page,
                        result,
                        at,
                        schedule: Some(schedule),
                    })
                    .collect();
                store
                    .commit_checks(&commits)
                    .into_iter()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect::<Vec<_>>()
            })
            .await;
            match written {
                Ok(results) => {
                    for (reply, r) in replies.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(format!("database writer: {e}")));
                    }
                }
            }
        }
    }
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date (midnight UTC), as UTC.
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
        })
}

/// The next due time of a page after a check, and its latest news time.
///
/// Fresh statements are due every cycle, older ones less often (`[revisit]`); a failing page
/// backs off exponentially with jitter (at most a day); a first 404 is re-checked next cycle.
fn next_check(
    revisit: &crate::config::RevisitConfig,
    page: &Page,
    result: &CheckResult,
    published: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    // The statement's latest news: its last change, else its publication date, else when
    // presswatch first saw it. An old statement found today is old, not fresh.
    let published = published.and_then(parse_time).filter(|t| *t <= now);
    let prior = page.last_news_at.as_deref().and_then(parse_time);
    let news = match result {
        CheckResult::NewVersion { change, .. } if change.kind == ChangeKind::New => {
            published.or(prior).unwrap_or(now)
        }
        CheckResult::NewVersion { .. }
        | CheckResult::Gone {
            change: Some(_), ..
        } => now,
        _ => prior
            .into_iter()
            .chain(published)
            .max()
            .or_else(|| parse_time(&page.first_seen_at))
            .unwrap_or(now),
    };
    let next = match result {
        // A suspicious shrink is confirmed at the next cycle; a first failure is retried at
        // the next cycle too; then 15 min, 30 min, 1 h... capped at a day, ±20 % so retries
        // spread out.
        CheckResult::Failed {
            suspect_hash: Some(_),
            ..
        } => now,
        CheckResult::Failed { .. } if page.fail_count == 0 => now,
        CheckResult::Failed { .. } => {
            let k = (page.fail_count - 1).clamp(0, 10) as u32;
            let base = (15 * 60i64).saturating_mul(1 << k).min(24 * 3600);
            let jitter = 0.8 + fastrand::f64() * 0.4;
            now + chrono::Duration::seconds((base as f64 * jitter) as i64)
        }
        CheckResult::Gone { change: None, .. } if !page.removed => now,
        _ if page.removed => now + chrono::Duration::hours(revisit.cold_hours as i64),
        _ => now + revisit.interval(now - news),
    };
    (crate::util::rfc3339(next), crate::util::rfc3339(news))
}

/// Fetch one page and decide what it means. Only store reads happen here.
/// `None`: a feed-only page that the feed no longer lists (nothing to compare).
async fn decide(
    ctx: &Context,
    source: &Source,
    page: &Page,
    entry: Option<&discover::FeedEntry>,
) -> anyhow::Result<Option<Decision>> {
    let url = Url::parse(&page.url)?;
    // The latest version is read only when a body came (or the page is gone): a 304 needs
    // its publication date alone, and a page never stored (most of a first cycle) nothing.
    let load_latest = || -> anyhow::Result<Option<crate::store::Version>> {
        Ok(match page.has_versions {
            true => ctx.store.version(page.id, None)?,
            false => None,
        })
    };
    let load_published = || -> anyhow::Result<Option<String>> {
        Ok(match page.has_versions {
            true => ctx.store.latest_published(page.id)?,
            false => None,
        })
    };
    let decided = |result: CheckResult, final_url: Option<String>, published: Option<String>| {
        Some(Decision {
            result,
            final_url,
            published,
        })
    };
    let validators = (page.has_versions && !page.removed).then_some(&page.validators);
    // Feed-only sources: the feed entry is the statement; the page is never fetched.
    let (fetched, from_feed) = if !source.fetch_pages {
        let Some(e) = entry else { return Ok(None) };
        let fetched = crate::fetch::Fetched {
            final_url: url.clone(),
            status: 200,
            content_type: None,
            validators: Default::default(),
            body: crate::util::statement_text(&e.title, &e.text).into_bytes(),
            encoded: None,
        };
        let article = extract::Article {
            title: e.title.clone(),
            published: e.published.clone(),
            body: e.text.clone(),
            profile: "feed".into(),
        };
        (fetched, Some(article))
    } else {
        match ctx.fetcher.get(&url, validators).await {
            Err(e) => {
                let published = load_published()?;
                let failed = CheckResult::Failed {
                    kind: e.kind(),
                    reason: e.to_string(),
                    suspect_hash: None,
                };
                return Ok(decided(failed, None, published));
            }
            Ok(Outcome::NotModified) => {
                let published = load_published()?;
                let unchanged = CheckResult::Unchanged {
                    validators: None,
                    raw_hash: None,
                };
                return Ok(decided(unchanged, None, published));
            }
            Ok(Outcome::Gone(status)) => {
                let latest = load_latest()?;
                let removal = latest.is_some() && !page.removed && page.gone_count + 1 >= 2;
                let change = removal.then(|| {
                    let (alert_to, digest) = alert_route(source, ChangeKind::Removed, 0);
                    NewChange {
                        kind: ChangeKind::Removed,
                        words_added: 0,
                        words_removed: latest.as_ref().map(|v| word_count(&v.body)).unwrap_or(0),
                        baseline: false,
                        alert_to,
                        digest,
                    }
                });
                let published = latest.and_then(|v| v.published);
                return Ok(decided(
                    CheckResult::Gone { status, change },
                    None,
                    published,
                ));
            }
            Ok(Outcome::Ok(f)) => (*f, None),
        }
    };
    let final_url = Some(fetched.final_url.to_string());
    // rel=canonical naming another URL of this source on the same host: that URL is the
    // statement; this one becomes its alias (and is checked no more).
    if from_feed.is_none()
        && let Some(canonical) = canonical_link(&fetched.body, &fetched.final_url)
        && canonical.as_str() != page.url
        && canonical.host_str() == url.host_str()
        && source.accepts(&canonical)
    {
        let id = ctx
            .store
            .make_alias(page, canonical.as_str(), &now_rfc3339())?;
        tracing::info!(url = %page.url, canonical = %canonical, page = id, "rel=canonical: tracked as the canonical URL");
        return Ok(None);
    }
    let latest = load_latest()?;
    let published = latest.as_ref().and_then(|v| v.published.clone());
    let result = judge(ctx, source, page, &url, latest, fetched, from_feed).await?;
    Ok(decided(result, final_url, published))
}

/// What a page check decided, with what scheduling the next check needs.
struct Decision {
    result: CheckResult,
    /// Where the content came from after redirects.
    final_url: Option<String>,
    /// The latest stored version's publication date.
    published: Option<String>,
}

/// Compare a fetched page (or feed entry) with the stored text and say what it means.
async fn judge(
    ctx: &Context,
    source: &Source,
    page: &Page,
    url: &Url,
    latest: Option<crate::store::Version>,
    mut fetched: crate::fetch::Fetched,
    from_feed: Option<extract::Article>,
) -> anyhow::Result<CheckResult> {
    let failed = |kind: &'static str, reason: String| CheckResult::Failed {
        kind,
        reason,
        suspect_hash: None,
    };
    // The bytes as they came (compressed, when the site compressed them): identical bytes
    // are identical HTML.
    let raw_hash = sha256_hex(fetched.encoded.as_ref().map_or(&fetched.body, |e| &e.1));
    let same_extractor = latest
        .as_ref()
        .is_some_and(|l| l.extractor_version == EXTRACTOR_VERSION as i64);
    if !page.removed && same_extractor && page.raw_hash.as_deref() == Some(raw_hash.as_str()) {
        // Byte-identical HTML: nothing to parse.
        return Ok(CheckResult::Unchanged {
            validators: Some(fetched.validators),
            raw_hash: Some(raw_hash),
        });
    }
    if from_feed.is_none() && !is_html(fetched.content_type.as_deref()) {
        return Ok(failed(
            "not-html",
            format!(
                "GET {}: not an HTML page (Content-Type: {})",
                page.url,
                fetched.content_type.as_deref().unwrap_or("?")
            ),
        ));
    }

    let article = match from_feed {
        Some(a) if a.body.trim().is_empty() => {
            return Ok(failed(
                "extraction",
                format!("{}: the feed entry has no text", page.url),
            ));
        }
        Some(a) => a,
        None => match extract_async(
            // Borrowed by the extraction and handed back: the HTML is stored only when the
            // site did not send it compressed.
            std::mem::take(&mut fetched.body),
            fetched.content_type.clone(),
            fetched.final_url.clone(),
            source,
        )
        .await?
        {
            (body, Ok(a)) => {
                fetched.body = body;
                a
            }
            (_, Err(e)) => {
                return Ok(failed(
                    "extraction",
                    format!("{}: extraction failed: {e}", page.url),
                ));
            }
        },
    };
    if looks_like_error_page(&article.title) {
        return Ok(failed(
            "error-page",
            format!(
                "{}: looks like an error page (title {:?})",
                page.url, article.title
            ),
        ));
    }
    let new_text = comparable_text(&article.title, &article.body, &source.ignore);
    let hash = words_hash(&new_text);
    let new_words = word_count(&article.body);

    // The previous text, as the current extractor sees it: re-extracted from the stored HTML
    // when an older extractor stored it.
    let previous = match &latest {
        None => None,
        Some(l) if l.extractor_version == EXTRACTOR_VERSION as i64 || l.profile == "feed" => {
            Some((l.title.clone(), l.body.clone()))
        }
        Some(l) => {
            let raw = ctx.store.raw_html(page.id, l.version)?.unwrap_or_default();
            match extract_async(raw, None, url.clone(), source).await? {
                (_, Ok(a)) => Some((a.title, a.body)),
                (_, Err(_)) => Some((l.title.clone(), l.body.clone())),
            }
        }
    };

    let new_version = NewVersion {
        title: article.title.clone(),
        published: article.published.clone(),
        body: article.body.clone(),
        text_hash: hash.clone(),
        raw_html: match fetched.encoded {
            Some((coding, bytes)) => RawHtml::Encoded(coding, bytes),
            None => RawHtml::Plain(fetched.body),
        },
        raw_hash: raw_hash.clone(),
        extractor_version: EXTRACTOR_VERSION as i64,
        profile: article.profile.clone(),
    };
    let Some((old_title, old_body)) = previous else {
        let (alert_to, digest) = alert_route(source, ChangeKind::New, 0);
        return Ok(CheckResult::NewVersion {
            version: Box::new(new_version),
            validators: fetched.validators,
            change: NewChange {
                kind: ChangeKind::New,
                words_added: new_words,
                words_removed: 0,
                baseline: page.baseline,
                alert_to,
                digest,
            },
        });
    };
    let old_text = comparable_text(&old_title, &old_body, &source.ignore);
    if words_hash(&old_text) == hash && !page.removed {
        return Ok(CheckResult::Unchanged {
            validators: Some(fetched.validators),
            raw_hash: Some(raw_hash),
        });
    }

    // A long text that suddenly lost most of its words is more likely a broken page than an
    // edit: store it only when the next check sees the same text.
    let old_words = word_count(&old_body);
    if !page.removed
        && old_words >= SHRINK_MIN_WORDS
        && (new_words as f64) < SHRINK_RATIO * old_words as f64
        && page.suspect_hash.as_deref() != Some(hash.as_str())
    {
        return Ok(CheckResult::Failed {
            kind: "shrank",
            reason: format!(
                "{}: extracted text shrank from {old_words} to {new_words} words; stored only if the next check confirms it",
                page.url
            ),
            suspect_hash: Some(hash),
        });
    }

    let d = crate::diff::diff(&old_text, &new_text, 0);
    let kind = if page.removed {
        ChangeKind::New
    } else {
        ChangeKind::Changed
    };
    let (alert_to, digest) = alert_route(source, kind, d.words_added + d.words_removed);
    Ok(CheckResult::NewVersion {
        version: Box::new(new_version),
        validators: fetched.validators,
        change: NewChange {
            kind,
            words_added: d.words_added,
            words_removed: d.words_removed,
            baseline: false,
            alert_to,
            digest,
        },
    })
}

/// What `presswatch reextract` did.
#[derive(Debug, Default)]
pub struct ReextractReport {
    pub pages: usize,
    pub versions_changed: usize,
    pub errors: Vec<String>,
}

/// Re-extract the stored versions of every page (of one source) from their raw HTML with
/// the current extractor. No change is recorded and no alert is sent: only the stored text
/// follows the extractor. Feed-only versions (no HTML) are left as they are.
pub fn reextract(store: &Store, cfg: &Config, source: Option<&str>) -> ReextractReport {
    let mut report = ReextractReport::default();
    for src in cfg
        .sources
        .iter()
        .filter(|s| source.is_none_or(|n| n == s.name))
    {
        let pages = match store.pages_of_source(&src.name) {
            Ok(p) => p,
            Err(e) => {
                report.errors.push(e.to_string());
                continue;
            }
        };
        for page in pages {
            let Ok(url) = Url::parse(&page.url) else {
                continue;
            };
            let result = store.rewrite_versions(page.id, |raw| {
                if !src.fetch_pages {
                    return None;
                }
                let html = extract::decode_html(raw, None);
                let a = extract::extract_for_source(
                    &html,
                    &url,
                    src.body.as_deref(),
                    src.profile.as_deref(),
                )
                .ok()?;
                let hash = words_hash(&comparable_text(&a.title, &a.body, &src.ignore));
                Some((
                    a.title,
                    a.published,
                    a.body,
                    hash,
                    EXTRACTOR_VERSION as i64,
                    a.profile,
                ))
            });
            match result {
                Ok(n) => {
                    report.pages += 1;
                    report.versions_changed += n;
                }
                Err(e) => report.errors.push(format!("{}: {e}", page.url)),
            }
        }
    }
    report
}

/// Runs CPU-bound work (parsing) on rayon's pool, one thread per core, and waits for it.
///
/// A fixed pool that takes the next queued job as soon as it finishes one keeps every core
/// busy: with a permit per core and `spawn_blocking`, each job waited for two thread
/// wake-ups, and the cores idled a sixth of the time between jobs (benches/cycle). More
/// threads than cores would not finish sooner, and every extra thread keeps its own
/// allocator heap (32 fetches in flight: peak RSS 158 MB with a thread per job).
async fn cpu_bound<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic would abort the process from a rayon thread: it becomes this job's error.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out);
    });
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow::anyhow!("internal error while parsing: {what}"))
        }
        Err(_) => Err(anyhow::anyhow!("internal error: the parsing pool stopped")),
    }
}

/// Decode and extract on the CPU pool: parsing is CPU work. The HTML is handed back.
async fn extract_async(
    body: Vec<u8>,
    content_type: Option<String>,
    url: Url,
    source: &Source,
) -> anyhow::Result<(Vec<u8>, Result<extract::Article, extract::ExtractError>)> {
    let (selector, profile) = (source.body.clone(), source.profile.clone());
    cpu_bound(move || {
        let article = {
            let html = extract::decode_html_borrowed(&body, content_type.as_deref());
            extract::extract_for_source(&html, &url, selector.as_deref(), profile.as_deref())
        };
        (body, article)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_only_edit_hashes_equal() {
        let h = |t: &str, b: &str| words_hash(&comparable_text(t, b, &[]));
        assert_eq!(h("T", "a  b\n\nc"), h("T", "a b c"));
        assert_ne!(h("T", "a b c"), h("T", "a b d"));
    }

    #[test]
    fn ignored_lines_leave_comparison() {
        let re = vec![regex::Regex::new("^Last updated").expect("re")];
        let a = comparable_text("T", "Body text.\n\nLast updated 1 May 2026", &re);
        let b = comparable_text("T", "Body text.\n\nLast updated 2 May 2026", &re);
        assert_eq!(words_hash(&a), words_hash(&b));
    }

    #[test]
    fn words_hash_is_the_hash_of_the_words_joined_by_spaces() {
        let text = "  Title\u{a0}here\n\nBody\ttext,\r\n more  words ";
        let joined: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words_hash(text), sha256_hex(joined.join(" ").as_bytes()));
        assert_eq!(crate::util::words_joined(text).1, joined.len());
        let mut rng = fastrand::Rng::with_seed(5);
        const PIECES: &[&str] = &[
            " ", "\t", "\n", "\r", "\u{b}", "\u{a0}", "\u{2028}", "a", "é", "🙂",
        ];
        for _ in 0..5_000 {
            let s: String = (0..rng.usize(0..10))
                .map(|_| PIECES[rng.usize(0..PIECES.len())])
                .collect();
            let joined: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(
                (words_hash(&s), crate::util::words_joined(&s).1),
                (sha256_hex(joined.join(" ").as_bytes()), joined.len()),
                "{s:?}"
            );
        }

        assert_eq!(
            words_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn page() -> Page {
        Page {
            id: 1,
            url: "https://x/a".into(),
            source: "s".into(),
            baseline: false,
            removed: false,
            validators: Default::default(),
            raw_hash: None,
            gone_count: 0,
            suspect_hash: None,
            first_seen_at: "2026-11-01T00:00:00Z".into(),
            next_check_at: None,
            last_check_at: None,
            last_news_at: None,
            fail_count: 0,
            has_versions: true,
        }
    }

    #[test]
    fn revisit_decays_with_age() {
        let rv = crate::config::RevisitConfig::default();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("t")
            .with_timezone(&chrono::Utc);
        let unchanged = CheckResult::Unchanged {
            validators: None,
            raw_hash: None,
        };
        let at =
            |p: &Page, published: Option<&str>| next_check(&rv, p, &unchanged, published, now).0;
        // Published yesterday: every cycle.
        assert_eq!(at(&page(), Some("2026-11-22")), "2026-11-23T12:00:00Z");
        // Published a month ago: daily.
        assert_eq!(at(&page(), Some("2026-10-20")), "2026-11-24T12:00:00Z");
        // Published in 2018: weekly, even though presswatch found it recently.
        assert_eq!(at(&page(), Some("2018-12-10")), "2026-11-30T12:00:00Z");
        // Changed just now: fresh again.
        let mut p = page();
        p.last_news_at = Some("2026-11-23T11:00:00Z".into());
        assert_eq!(at(&p, Some("2018-12-10")), "2026-11-23T12:00:00Z");
        // Failing pages back off (15 min ±20 % first).
        let failed = CheckResult::Failed {
            kind: "other",
            reason: "x".into(),
            suspect_hash: None,
        };
        assert_eq!(
            next_check(&rv, &page(), &failed, None, now).0,
            "2026-11-23T12:00:00Z"
        );
        let mut p = page();
        p.fail_count = 1;
        let (next, _) = next_check(&rv, &p, &failed, None, now);
        let next = chrono::DateTime::parse_from_rfc3339(&next)
            .expect("t")
            .with_timezone(&chrono::Utc);
        let wait = (next - now).num_seconds();
        assert!((720..=1080).contains(&wait), "{wait}");
        let mut p = page();
        p.fail_count = 20;
        let (next, _) = next_check(&rv, &p, &failed, None, now);
        let next = chrono::DateTime::parse_from_rfc3339(&next)
            .expect("t")
            .with_timezone(&chrono::Utc);
        assert!((next - now).num_hours() <= 29, "capped at a day (+20 %)");
    }

    #[test]
    fn canonical_links() {
        let base = Url::parse("https://www.iom.int/news/a?utm_source=x").expect("url");
        let html = br#"<html><head><link href="/news/b#top" rel="canonical"></head></html>"#;
        assert_eq!(
            canonical_link(html, &base)
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://www.iom.int/news/b")
        );
        assert!(canonical_link(b"<html><head></head></html>", &base).is_none());
    }

    #[test]
    fn error_page_titles() {
        assert!(looks_like_error_page("Page not found"));
        assert!(looks_like_error_page(
            "Page not found | International Organization for Migration"
        ));
        assert!(looks_like_error_page("404"));
        assert!(!looks_like_error_page(
            "IOM Lauds Adoption of Global Compact for Migration"
        ));
        assert!(!looks_like_error_page("Errors in migration data"));
    }
}
