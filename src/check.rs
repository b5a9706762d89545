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
use crate::store::{ChangeKind, CheckResult, NewChange, NewVersion, Page, Store};
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
    pub interrupted: bool,
}

/// The result of one page check, for the report.
#[derive(Debug)]
enum PageOutcome {
    Unchanged,
    Change(ChangeKind),
    Failed(String),
}

/// Run one cycle over the configured sources (or one of them).
pub async fn run_cycle(ctx: &Context, opts: &CycleOptions) -> CycleReport {
    let sources: Vec<&Source> = ctx
        .cfg
        .sources
        .iter()
        .filter(|s| opts.source.as_deref().is_none_or(|n| n == s.name))
        .collect();
    let reports = futures::future::join_all(sources.iter().map(|s| run_source(ctx, s))).await;
    let mut total = CycleReport {
        sources: sources.len(),
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
        total.interrupted |= r.interrupted;
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

async fn run_source(ctx: &Context, source: &Source) -> CycleReport {
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

    // 1. Discovery. A failure here is reported, but tracked pages are still re-checked.
    let discovery = discover_source(ctx, source).await;
    let discovery_error = discovery.as_ref().err().cloned();
    if let Err(e) = &discovery {
        tracing::warn!(source = %source.name, "{e}");
        report.failed += 1;
        report.failures.push(e.clone());
    }
    for url in discovery.unwrap_or_default() {
        if let Err(e) = store.ensure_page(url.as_str(), &source.name, baseline, &started) {
            report.failures.push(format!("{url}: {e}"));
        }
    }

    // 2. Every tracked page of the source, whether or not discovery still lists it.
    let pages = match store.pages_of_source(&source.name) {
        Ok(p) => p,
        Err(e) => {
            report.failed += 1;
            report.failures.push(format!("source {}: {e}", source.name));
            return report;
        }
    };
    let mut checks = futures::stream::iter(pages)
        .take_while(|_| futures::future::ready(!ctx.shutdown.is_cancelled()))
        .map(|page| async move {
            let outcome = check_page(ctx, source, &page).await;
            (page, outcome)
        })
        .buffer_unordered(ctx.cfg.fetch.concurrency.max(1));
    while let Some((page, outcome)) = checks.next().await {
        report.pages_checked += 1;
        match outcome {
            PageOutcome::Unchanged => report.unchanged += 1,
            PageOutcome::Change(ChangeKind::New) => report.new += 1,
            PageOutcome::Change(ChangeKind::Changed) => report.changed += 1,
            PageOutcome::Change(ChangeKind::Removed) => report.removed += 1,
            PageOutcome::Failed(reason) => {
                tracing::warn!(source = %source.name, url = %page.url, "{reason}");
                report.failed += 1;
                report.failures.push(reason);
            }
        }
    }
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

/// Fetch and parse a source's discovery document(s). Errors are one line naming the URL.
async fn discover_source(ctx: &Context, source: &Source) -> Result<Vec<Url>, String> {
    if source.kind == SourceKind::Page {
        return Ok(vec![crate::util::canonical_url(&source.url)]);
    }
    let mut pages: Vec<Url> = Vec::new();
    let mut queue = vec![source.url.clone()];
    let mut seen = 0;
    while let Some(doc_url) = queue.pop() {
        seen += 1;
        if seen > MAX_SITEMAPS {
            tracing::warn!(source = %source.name, "more than {MAX_SITEMAPS} sitemaps; the rest are skipped this cycle");
            break;
        }
        let fetched = match ctx
            .fetcher
            .get(&doc_url, None)
            .await
            .map_err(|e| e.to_string())?
        {
            Outcome::Ok(f) => f,
            Outcome::Gone(status) => return Err(format!("GET {doc_url}: HTTP {status}")),
            Outcome::NotModified => continue,
        };
        let d = discover::parse(source, &fetched.final_url, &fetched.body)
            .map_err(|e| e.to_string())?;
        for p in d.pages {
            if !pages.contains(&p) {
                pages.push(p);
            }
        }
        queue.extend(d.sitemaps);
    }
    Ok(pages)
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
pub fn words_hash(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    sha256_hex(words.join(" ").as_bytes())
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

async fn check_page(ctx: &Context, source: &Source, page: &Page) -> PageOutcome {
    let at = now_rfc3339();
    let result = match decide(ctx, source, page).await {
        Ok(r) => r,
        Err(e) => {
            return PageOutcome::Failed(format!("{}: {e}", page.url));
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
                PageOutcome::Failed(format!(
                    "GET {}: HTTP {status} (recorded as removed if it persists at the next check)",
                    page.url
                ))
            }
        }
        CheckResult::Failed { reason, .. } => PageOutcome::Failed(reason.clone()),
    };
    match ctx.store.commit_check(page, &result, &at) {
        Ok(_) => outcome,
        Err(e) => PageOutcome::Failed(format!("{}: not recorded: {e}", page.url)),
    }
}

/// Fetch one page and decide what it means. Only store reads happen here.
async fn decide(ctx: &Context, source: &Source, page: &Page) -> anyhow::Result<CheckResult> {
    let url = Url::parse(&page.url)?;
    let latest = ctx.store.version(page.id, None)?;
    let failed = |reason: String| CheckResult::Failed {
        reason,
        suspect_hash: None,
    };
    let validators = (latest.is_some() && !page.removed).then_some(&page.validators);
    let fetched = match ctx.fetcher.get(&url, validators).await {
        Err(e) => return Ok(failed(e.to_string())),
        Ok(Outcome::NotModified) => {
            return Ok(CheckResult::Unchanged {
                validators: None,
                raw_hash: None,
            });
        }
        Ok(Outcome::Gone(status)) => {
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
            return Ok(CheckResult::Gone { status, change });
        }
        Ok(Outcome::Ok(f)) => f,
    };

    let raw_hash = sha256_hex(&fetched.body);
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
    if !is_html(fetched.content_type.as_deref()) {
        return Ok(failed(format!(
            "GET {}: not an HTML page (Content-Type: {})",
            page.url,
            fetched.content_type.as_deref().unwrap_or("?")
        )));
    }

    let article = match extract_async(
        fetched.body.clone(),
        fetched.content_type.clone(),
        fetched.final_url.clone(),
        source.clone(),
    )
    .await?
    {
        Ok(a) => a,
        Err(e) => return Ok(failed(format!("{}: extraction failed: {e}", page.url))),
    };
    if looks_like_error_page(&article.title) {
        return Ok(failed(format!(
            "{}: looks like an error page (title {:?})",
            page.url, article.title
        )));
    }
    let new_text = comparable_text(&article.title, &article.body, &source.ignore);
    let hash = words_hash(&new_text);

    // The previous text, as the current extractor sees it: re-extracted from the stored HTML
    // when an older extractor stored it.
    let previous = match &latest {
        None => None,
        Some(l) if l.extractor_version == EXTRACTOR_VERSION as i64 => {
            Some((l.title.clone(), l.body.clone()))
        }
        Some(l) => {
            let raw = ctx.store.raw_html(page.id, l.version)?.unwrap_or_default();
            match extract_async(raw, None, url.clone(), source.clone()).await? {
                Ok(a) => Some((a.title, a.body)),
                Err(_) => Some((l.title.clone(), l.body.clone())),
            }
        }
    };

    let new_version = NewVersion {
        title: article.title.clone(),
        published: article.published.clone(),
        body: article.body.clone(),
        text_hash: hash.clone(),
        raw_html: fetched.body,
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
                words_added: word_count(&article.body),
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
    let (old_words, new_words) = (word_count(&old_body), word_count(&article.body));
    if !page.removed
        && old_words >= SHRINK_MIN_WORDS
        && (new_words as f64) < SHRINK_RATIO * old_words as f64
        && page.suspect_hash.as_deref() != Some(hash.as_str())
    {
        return Ok(CheckResult::Failed {
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

/// Decode and extract on the blocking pool: parsing is CPU work.
async fn extract_async(
    body: Vec<u8>,
    content_type: Option<String>,
    url: Url,
    source: Source,
) -> anyhow::Result<Result<extract::Article, extract::ExtractError>> {
    Ok(tokio::task::spawn_blocking(move || {
        let html = extract::decode_html(&body, content_type.as_deref());
        extract::extract_for_source(
            &html,
            &url,
            source.body.as_deref(),
            source.profile.as_deref(),
        )
    })
    .await?)
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
