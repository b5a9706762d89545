//! SQLite storage: the only module that touches the database.
//!
//! Invariants kept here:
//! * a page check lives in exactly one transaction (several checks may share one, see
//!   [`Store::commit_checks`]): page state, version, change and the alert's outbox row are
//!   written together or not at all;
//! * versions are append-only and numbered 1, 2, 3... per page; the raw HTML of each is kept
//!   (as the site compressed it, else zlib; see [`crate::codec`]) so its text can be
//!   re-extracted;
//! * schema changes are numbered migrations (`PRAGMA user_version`), applied in a transaction.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::codec::{self, Coding};
use crate::fetch::Validators;

pub mod web;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: {message}")]
    Other { path: String, message: String },
}

type Result<T> = std::result::Result<T, StoreError>;

/// Numbered schema migrations; index + 1 is the `user_version` after applying.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    first_cycle_done INTEGER NOT NULL DEFAULT 0,
    last_check_at TEXT,
    last_status TEXT,
    last_error TEXT
);
CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    baseline INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    etag TEXT,
    last_modified TEXT,
    raw_hash TEXT,
    gone_count INTEGER NOT NULL DEFAULT 0,
    fail_count INTEGER NOT NULL DEFAULT 0,
    suspect_hash TEXT,
    last_check_at TEXT,
    last_status TEXT,
    last_error TEXT
);
CREATE INDEX pages_source ON pages(source);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES pages(id),
    version INTEGER NOT NULL,
    fetched_at TEXT NOT NULL,
    title TEXT NOT NULL,
    published TEXT,
    body TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    raw_html BLOB NOT NULL,
    extractor_version INTEGER NOT NULL,
    profile TEXT NOT NULL,
    UNIQUE (page_id, version)
);
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES pages(id),
    kind TEXT NOT NULL CHECK (kind IN ('new', 'changed', 'removed')),
    detected_at TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER,
    words_added INTEGER NOT NULL DEFAULT 0,
    words_removed INTEGER NOT NULL DEFAULT 0,
    baseline INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX changes_detected ON changes(detected_at);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    change_id INTEGER NOT NULL UNIQUE REFERENCES changes(id),
    message_id TEXT NOT NULL UNIQUE,
    recipients TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
CREATE INDEX outbox_pending ON outbox(status, next_attempt_at);
"#,
    r#"
-- 2: indexes for the web change log (a page's changes, the log by kind, title search).
CREATE INDEX changes_page ON changes(page_id);
CREATE INDEX changes_kind ON changes(kind, detected_at);
CREATE INDEX versions_title ON versions(page_id, version, title);
"#,
    r#"
-- 3: alert batching. `digest` is the batching rule the alert waits for (NULL: its own mail);
-- `digest_id` is set once a digest mail is formed, so a retry resends the very same batch.
ALTER TABLE outbox ADD COLUMN digest TEXT;
ALTER TABLE outbox ADD COLUMN digest_id TEXT;
"#,
    r#"
-- 4: revisit schedule, redirects, and host health (Retry-After pauses, circuit breaker).
ALTER TABLE pages ADD COLUMN next_check_at TEXT;
ALTER TABLE pages ADD COLUMN last_news_at TEXT;
ALTER TABLE pages ADD COLUMN final_url TEXT;
CREATE INDEX pages_due ON pages(source, next_check_at);
CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    paused_until TEXT,
    reason TEXT
);
"#,
    r#"
-- 5: a page whose rel=canonical names another tracked page is an alias of it, not checked.
ALTER TABLE pages ADD COLUMN alias_of INTEGER REFERENCES pages(id);
"#,
    r#"
-- 6: raw HTML is stored as the site compressed it (gzip, br), or zlib by presswatch.
ALTER TABLE versions ADD COLUMN raw_encoding TEXT NOT NULL DEFAULT 'zlib';
"#,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    New,
    Changed,
    Removed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Changed => "changed",
            ChangeKind::Removed => "removed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(ChangeKind::New),
            "changed" => Some(ChangeKind::Changed),
            "removed" => Some(ChangeKind::Removed),
            _ => None,
        }
    }
}

/// A tracked statement page, as the check needs it.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: i64,
    pub url: String,
    pub source: String,
    pub baseline: bool,
    pub removed: bool,
    pub validators: Validators,
    pub raw_hash: Option<String>,
    pub gone_count: i64,
    pub suspect_hash: Option<String>,
    pub first_seen_at: String,
    /// When the page is next due (RFC 3339); `None`: now.
    pub next_check_at: Option<String>,
    /// When it was last checked (RFC 3339), whatever the outcome.
    pub last_check_at: Option<String>,
    /// Latest of: published, last change, first seen.
    pub last_news_at: Option<String>,
    pub fail_count: i64,
    /// Whether any version is stored (`true` when the query did not say: look it up).
    pub has_versions: bool,
}

impl Page {
    /// A page row as just inserted (the table's defaults).
    fn added(id: i64, url: &str, source: &str, baseline: bool, at: &str) -> Page {
        Page {
            id,
            url: url.to_string(),
            source: source.to_string(),
            baseline,
            removed: false,
            validators: Validators::default(),
            raw_hash: None,
            gone_count: 0,
            suspect_hash: None,
            first_seen_at: at.to_string(),
            next_check_at: None,
            last_check_at: None,
            last_news_at: None,
            fail_count: 0,
            has_versions: false,
        }
    }
}

/// A stored version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub page_id: i64,
    pub url: String,
    pub version: i64,
    pub fetched_at: String,
    pub title: String,
    pub published: Option<String>,
    pub body: String,
    pub text_hash: String,
    pub extractor_version: i64,
    pub profile: String,
}

/// A new version to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub title: String,
    pub published: Option<String>,
    pub body: String,
    pub text_hash: String,
    pub raw_html: RawHtml,
    /// SHA-256 of the body as received (compressed, when the site compressed it).
    pub raw_hash: String,
    pub extractor_version: i64,
    pub profile: String,
}

/// A version's raw HTML, as handed to the store.
#[derive(Debug, Clone)]
pub enum RawHtml {
    /// Uncompressed: stored compressed with [`Coding::Zlib`].
    Plain(Vec<u8>),
    /// Compressed by the site (the response body as it came): stored as is.
    Encoded(Coding, Vec<u8>),
}

/// The change a check recorded, and whether to alert on it.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub kind: ChangeKind,
    pub words_added: usize,
    pub words_removed: usize,
    /// Part of a source's silent first cycle: logged as baseline, never alerted.
    pub baseline: bool,
    /// Recipients of the alert; empty means no alert.
    pub alert_to: Vec<String>,
    /// Digest the alert waits for (`None`: its own mail).
    pub digest: Option<String>,
}

/// One page check to record: see [`Store::commit_checks`].
#[derive(Debug, Clone, Copy)]
pub struct CheckCommit<'a> {
    pub page: &'a Page,
    pub result: &'a CheckResult,
    /// When the check ran (RFC 3339).
    pub at: &'a str,
    /// When the page is next due, written with the check.
    pub schedule: Option<&'a Schedule>,
}

/// A page's revisit schedule after a check.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub next_check_at: String,
    pub last_news_at: String,
    /// Where the content came from after redirects, when that differs from the page URL.
    pub final_url: Option<String>,
}

/// What one page check found; written by [`Store::commit_checks`] in one transaction.
#[derive(Debug, Clone)]
pub enum CheckResult {
    /// Same text as the latest version (or 304).
    Unchanged {
        validators: Option<Validators>,
        raw_hash: Option<String>,
    },
    /// A new version, with the change it makes.
    NewVersion {
        version: Box<NewVersion>,
        validators: Validators,
        change: NewChange,
    },
    /// 404/410. With `change`, the page is now recorded as removed.
    Gone {
        status: u16,
        change: Option<NewChange>,
    },
    /// The check failed (timeout, 5xx, error page, empty or suspect extraction).
    Failed {
        /// Short kind for metrics ("timeout", "http-5xx", "extraction", ...).
        kind: &'static str,
        reason: String,
        /// Hash of a suspiciously short extraction, remembered to confirm on the next check.
        suspect_hash: Option<String>,
    },
}

/// One row of the change log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeRow {
    pub id: i64,
    pub kind: ChangeKind,
    pub url: String,
    pub title: String,
    pub source: String,
    pub detected_at: String,
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    pub words_added: i64,
    pub words_removed: i64,
    pub baseline: bool,
    pub page_id: i64,
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub since: Option<String>,
    pub source: Option<String>,
    pub kind: Option<ChangeKind>,
    pub limit: Option<usize>,
    pub include_baseline: bool,
}

/// An alert waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub change_id: i64,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub attempts: i64,
    /// The batching rule (`None`: its own mail).
    pub digest: Option<String>,
    /// The digest mail this alert was put in, once formed.
    pub digest_id: Option<String>,
}

/// Per-source summary for `presswatch sources`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceSummary {
    pub name: String,
    pub pages: i64,
    pub removed: i64,
    pub failing: i64,
    pub last_check_at: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

/// When a page is next due, for `presswatch sources --pages`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageSchedule {
    pub source: String,
    pub url: String,
    pub next_check_at: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

/// One outbox row for `presswatch outbox`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub change_id: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub recipients: Vec<String>,
    pub digest: Option<String>,
    pub kind: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed: i64,
    pub sent: i64,
}

pub struct Store {
    path: PathBuf,
    /// The writer (and reads that belong to a check).
    conn: Mutex<Connection>,
    /// A read-only connection for the web change log: under WAL, its queries never wait for
    /// a check's transaction, nor make one wait. Opened after the migrations.
    reader: std::sync::OnceLock<Mutex<Connection>>,
    instance: std::sync::OnceLock<String>,
}

/// Execute with the connection's prepared-statement cache (the check path runs the same few
/// statements thousands of times a cycle).
fn exec(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Raw HTML as written: its coding and bytes.
type StoredHtml<'a> = (Coding, Cow<'a, [u8]>);

/// Stored raw HTML, decoded. An unknown coding name is reported as corrupt.
fn decompress(data: &[u8], coding: &str) -> std::io::Result<Vec<u8>> {
    let coding = Coding::parse(coding).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown coding {coding:?}"),
        )
    })?;
    // Nothing larger was ever stored (fetch caps bodies far below this); a corrupt blob
    // claiming more is an error, not an allocation.
    const MAX_STORED_HTML: u64 = 256 << 20;
    let html = codec::decode(coding, data, MAX_STORED_HTML)?;
    if html.len() as u64 > MAX_STORED_HTML {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "decodes to more than 256 MiB",
        ));
    }
    Ok(html)
}

impl Store {
    /// Open (creating the file and its directory if needed) and migrate.
    pub fn open(path: &Path) -> Result<Store> {
        let p = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Other {
                path: p.clone(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: p.clone(),
            source,
        })?;
        let store = Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            reader: std::sync::OnceLock::new(),
            instance: std::sync::OnceLock::new(),
        };
        store.with(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        })?;
        store.migrate()?;
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|r| {
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            Ok(r)
        })
        .map_err(|source| StoreError::Sqlite {
            path: p.clone(),
            source,
        })?;
        let _ = store.reader.set(Mutex::new(reader));
        Ok(store)
    }

    /// Run read-only queries on the reader connection (the writer if it is not open).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        match self.reader.get() {
            Some(r) => {
                let conn = r.lock().unwrap_or_else(|p| p.into_inner());
                f(&conn).map_err(|e| self.err(e))
            }
            None => self.with(|c| f(c)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| self.err(e))
    }

    fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
    }

    fn migrate(&self) -> Result<()> {
        let current: i64 =
            self.with(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))?;
        if current as usize > MIGRATIONS.len() {
            return Err(StoreError::Other {
                path: self.path.display().to_string(),
                message: format!(
                    "schema version {current} is newer than this presswatch knows ({}); upgrade presswatch",
                    MIGRATIONS.len()
                ),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            self.tx(|tx| {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
                if i == 0 {
                    let seed = format!(
                        "{:?}{}",
                        self.path,
                        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
                    );
                    let id = &crate::util::sha256_hex(seed.as_bytes())[..12];
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('instance', ?1)",
                        [id],
                    )?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// A random id of this database, used in Message-IDs so two installations never collide.
    pub fn instance_id(&self) -> Result<String> {
        if let Some(id) = self.instance.get() {
            return Ok(id.clone());
        }
        let id = self.instance_id_uncached()?;
        let _ = self.instance.set(id.clone());
        Ok(id)
    }

    fn instance_id_uncached(&self) -> Result<String> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'instance'", [], |r| {
                r.get(0)
            })
        })
    }

    // ---- sources ----

    /// Has this source completed a cycle before (so its new pages are real news)?
    pub fn source_first_cycle_done(&self, name: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT first_cycle_done FROM sources WHERE name = ?1",
                [name],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(false))
        })
    }

    /// Record the end of a source's discovery + checks in this cycle.
    pub fn finish_source(
        &self,
        name: &str,
        at: &str,
        status: &str,
        error: Option<&str>,
        cycle_done: bool,
    ) -> Result<()> {
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO sources (name, first_cycle_done, last_check_at, last_status, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET
                   first_cycle_done = MAX(first_cycle_done, excluded.first_cycle_done),
                   last_check_at = excluded.last_check_at, last_status = excluded.last_status,
                   last_error = excluded.last_error",
                params![name, cycle_done, at, status, error],
            )?;
            Ok(())
        })
    }

    // ---- pages ----

    /// Track the discovered `urls` for `source` (a URL another source tracks stays
    /// there). Returns the pages it added: never checked, so due at once.
    pub fn ensure_pages(
        &self,
        urls: &[&str],
        source: &str,
        baseline: bool,
        at: &str,
    ) -> Result<Vec<Page>> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        insert_pages(&mut conn, urls, source, baseline, at).map_err(|e| self.err(e))
    }

    /// [`Store::ensure_pages`] if the writer is free right now; `None` (nothing done) while
    /// it is writing checks, so discovery never waits for a group commit.
    pub fn try_ensure_pages(
        &self,
        urls: &[&str],
        source: &str,
        baseline: bool,
        at: &str,
    ) -> Option<Result<Vec<Page>>> {
        let mut conn = match self.conn.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(insert_pages(&mut conn, urls, source, baseline, at).map_err(|e| self.err(e)))
    }

    /// Track a page (no-op when it is tracked already). Returns true when it was new.
    pub fn ensure_page(&self, url: &str, source: &str, baseline: bool, at: &str) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO pages (url, source, first_seen_at, baseline) VALUES (?1, ?2, ?3, ?4)",
                params![url, source, at, baseline],
            )?;
            Ok(n > 0)
        })
    }

    fn page_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Page> {
        Ok(Page {
            id: r.get("id")?,
            url: r.get("url")?,
            source: r.get("source")?,
            baseline: r.get("baseline")?,
            removed: r.get::<_, String>("status")? == "removed",
            validators: Validators {
                etag: r.get("etag")?,
                last_modified: r.get("last_modified")?,
            },
            raw_hash: r.get("raw_hash")?,
            gone_count: r.get("gone_count")?,
            suspect_hash: r.get("suspect_hash")?,
            first_seen_at: r.get("first_seen_at")?,
            next_check_at: r.get("next_check_at")?,
            last_check_at: r.get("last_check_at")?,
            last_news_at: r.get("last_news_at")?,
            fail_count: r.get("fail_count")?,
            has_versions: r.get("has_versions").unwrap_or(true),
        })
    }

    /// Every page tracked for a source, oldest first.
    pub fn pages_of_source(&self, source: &str) -> Result<Vec<Page>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT *, EXISTS (SELECT 1 FROM versions v WHERE v.page_id = pages.id) AS has_versions
                 FROM pages WHERE source = ?1 AND alias_of IS NULL ORDER BY id",
            )?;
            st.query_map([source], Self::page_from_row)?.collect()
        })
    }

    /// The page declares `canonical` (another URL of the same statement): track that one,
    /// and stop checking this one. Returns the canonical page's id.
    pub fn make_alias(&self, page: &Page, canonical: &str, at: &str) -> Result<i64> {
        self.tx(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO pages (url, source, first_seen_at, baseline) VALUES (?1, ?2, ?3, ?4)",
                params![canonical, page.source, at, page.baseline],
            )?;
            let id: i64 = tx.query_row("SELECT id FROM pages WHERE url = ?1", [canonical], |r| r.get(0))?;
            tx.execute(
                "UPDATE pages SET alias_of = ?2, last_check_at = ?3, last_status = 'alias', last_error = ?4 WHERE id = ?1",
                params![page.id, id, at, format!("rel=canonical names {canonical}")],
            )?;
            Ok(id)
        })
    }

    /// Every page (of one source) with when it is next due, for `sources --pages`.
    pub fn page_schedule(&self, source: Option<&str>) -> Result<Vec<PageSchedule>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT source, url, next_check_at, last_status, last_error FROM pages
                 WHERE ?1 IS NULL OR source = ?1 ORDER BY source, COALESCE(next_check_at, ''), url",
            )?;
            st.query_map([source], |r| {
                Ok(PageSchedule {
                    source: r.get(0)?,
                    url: r.get(1)?,
                    next_check_at: r.get(2)?,
                    last_status: r.get(3)?,
                    last_error: r.get(4)?,
                })
            })?
            .collect()
        })
    }

    pub fn save_host_statuses(&self, statuses: &[crate::fetch::HostStatus]) -> Result<()> {
        self.tx(|tx| {
            for h in statuses {
                tx.execute(
                    "INSERT INTO hosts (host, consecutive_failures, paused_until, reason) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(host) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
                       paused_until = excluded.paused_until, reason = excluded.reason",
                    params![h.host, h.consecutive_failures, h.paused_until, h.reason],
                )?;
            }
            Ok(())
        })
    }

    pub fn host_statuses(&self) -> Result<Vec<crate::fetch::HostStatus>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT host, consecutive_failures, paused_until, reason FROM hosts ORDER BY host",
            )?;
            st.query_map([], |r| {
                Ok(crate::fetch::HostStatus {
                    host: r.get(0)?,
                    consecutive_failures: r.get(1)?,
                    paused_until: r.get(2)?,
                    reason: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    pub fn page_by_url(&self, url: &str) -> Result<Option<Page>> {
        self.with(|c| {
            c.query_row(
                "SELECT * FROM pages WHERE url = ?1",
                [url],
                Self::page_from_row,
            )
            .optional()
        })
    }

    // ---- versions ----

    fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
        Ok(Version {
            page_id: r.get("page_id")?,
            url: r.get("url")?,
            version: r.get("version")?,
            fetched_at: r.get("fetched_at")?,
            title: r.get("title")?,
            published: r.get("published")?,
            body: r.get("body")?,
            text_hash: r.get("text_hash")?,
            extractor_version: r.get("extractor_version")?,
            profile: r.get("profile")?,
        })
    }

    const VERSION_COLS: &'static str = "v.page_id, p.url, v.version, v.fetched_at, v.title, v.published, v.body, v.text_hash, v.extractor_version, v.profile";

    /// The publication date of a page's latest version (`None`: no version, or no date).
    pub fn latest_published(&self, page_id: i64) -> Result<Option<String>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT published FROM versions WHERE page_id = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row([page_id], |r| r.get(0))
            .optional()
            .map(Option::flatten)
        })
    }

    /// A page's version `n`, or its latest when `n` is `None`.
    ///
    /// Read on the read-only connection: a check reads its page's latest version while the
    /// writer may be committing other checks.
    pub fn version(&self, page_id: i64, n: Option<i64>) -> Result<Option<Version>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {} FROM versions v JOIN pages p ON p.id = v.page_id
                 WHERE v.page_id = ?1 AND (?2 IS NULL OR v.version = ?2)
                 ORDER BY v.version DESC LIMIT 1",
                Self::VERSION_COLS
            );
            c.prepare_cached(&sql)?
                .query_row(params![page_id, n], Self::version_from_row)
                .optional()
        })
    }

    /// Every version of a page, oldest first.
    pub fn versions(&self, page_id: i64) -> Result<Vec<Version>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {} FROM versions v JOIN pages p ON p.id = v.page_id WHERE v.page_id = ?1 ORDER BY v.version",
                Self::VERSION_COLS
            );
            let mut st = c.prepare(&sql)?;
            st.query_map([page_id], Self::version_from_row)?.collect()
        })
    }

    /// The raw HTML stored with a version (decompressed).
    pub fn raw_html(&self, page_id: i64, version: i64) -> Result<Option<Vec<u8>>> {
        let blob: Option<(Vec<u8>, String)> = self.read(|c| {
            c.query_row(
                "SELECT raw_html, raw_encoding FROM versions WHERE page_id = ?1 AND version = ?2",
                params![page_id, version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        blob.map(|(b, coding)| decompress(&b, &coding))
            .transpose()
            .map_err(|e| StoreError::Other {
                path: self.path.display().to_string(),
                message: format!("stored HTML of page {page_id} version {version} is corrupt: {e}"),
            })
    }

    /// Replace the derived text of every version of a page (re-extraction by a newer
    /// extractor), in one transaction. `f` gets each version's raw HTML and returns the new
    /// (title, published, body, text_hash, extractor_version, profile), or `None` to keep it.
    /// Returns how many versions got a different text.
    #[allow(clippy::type_complexity)]
    pub fn rewrite_versions(
        &self,
        page_id: i64,
        mut f: impl FnMut(&[u8]) -> Option<(String, Option<String>, String, String, i64, String)>,
    ) -> Result<usize> {
        let path = self.path.display().to_string();
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut run =
            |conn: &mut Connection| -> rusqlite::Result<std::result::Result<usize, String>> {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let rows: Vec<(i64, Vec<u8>, String, String, String)> = {
                    let mut st = tx.prepare(
                    "SELECT id, raw_html, title, body, raw_encoding FROM versions WHERE page_id = ?1 ORDER BY version",
                )?;
                    st.query_map([page_id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?
                };
                let mut changed = 0;
                for (id, blob, old_title, old_body, coding) in rows {
                    let raw = match decompress(&blob, &coding) {
                        Ok(r) => r,
                        Err(e) => {
                            return Ok(Err(format!(
                                "stored HTML of version row {id} is corrupt: {e}"
                            )));
                        }
                    };
                    if let Some((title, published, body, hash, ev, profile)) = f(&raw) {
                        if title != old_title || body != old_body {
                            changed += 1;
                        }
                        tx.execute(
                        "UPDATE versions SET title = ?2, published = ?3, body = ?4, text_hash = ?5,
                           extractor_version = ?6, profile = ?7 WHERE id = ?1",
                        params![id, title, published, body, hash, ev, profile],
                    )?;
                    }
                }
                tx.commit()?;
                Ok(Ok(changed))
            };
        match run(&mut conn) {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(message)) => Err(StoreError::Other { path, message }),
            Err(source) => Err(StoreError::Sqlite { path, source }),
        }
    }

    // ---- the check transaction ----

    /// Record one page check in its own transaction (see [`Store::commit_checks`]). Returns
    /// the change id, if any.
    pub fn commit_check(&self, page: &Page, result: &CheckResult, at: &str) -> Result<Option<i64>> {
        let check = CheckCommit {
            page,
            result,
            at,
            schedule: None,
        };
        self.commit_checks(std::slice::from_ref(&check))
            .pop()
            .unwrap_or_else(|| Err(self.other("no result for the check".into())))
    }

    /// Record a group of page checks in one transaction ("group commit"). A check that cannot
    /// be written is rolled back alone and the others still land (the group is then written
    /// again with one savepoint per check), and a check is never split between transactions. A check's change and its
    /// outbox row are written together or not at all. One result per check, in order: the
    /// change id when the check recorded one.
    pub fn commit_checks(&self, checks: &[CheckCommit<'_>]) -> Vec<Result<Option<i64>>> {
        // Compression is CPU work: done before the writer lock is taken.
        let compressed: Vec<std::result::Result<Option<StoredHtml<'_>>, String>> = checks
            .iter()
            .map(|c| match c.result {
                CheckResult::NewVersion { version, .. } => match &version.raw_html {
                    RawHtml::Encoded(coding, bytes) => {
                        Ok(Some((*coding, Cow::Borrowed(&bytes[..]))))
                    }
                    RawHtml::Plain(html) => codec::zlib(html)
                        .map(|z| Some((Coding::Zlib, Cow::Owned(z))))
                        .map_err(|e| format!("cannot compress HTML of {}: {e}", c.page.url)),
                },
                _ => Ok(None),
            })
            .collect();
        let instance = match self.instance_id() {
            Ok(i) => i,
            Err(e) => {
                return checks
                    .iter()
                    .map(|_| Err(self.other(e.to_string())))
                    .collect();
            }
        };
        // The whole group in one go; if any check cannot be written, the group is rolled back
        // and written again with each check in a savepoint, so only that check fails.
        let written = self.with(
            |c| match write_group(c, checks, &compressed, &instance, false) {
                Ok(out) => Ok(out),
                Err(_) => write_group(c, checks, &compressed, &instance, true),
            },
        );
        match written {
            Ok(out) => out
                .into_iter()
                .map(|r| {
                    r.map_err(|e| match e {
                        GroupError::Sql(e) => self.err(e),
                        GroupError::Other(m) => self.other(m),
                    })
                })
                .collect(),
            Err(e) => checks
                .iter()
                .map(|_| Err(self.other(e.to_string())))
                .collect(),
        }
    }

    fn other(&self, message: String) -> StoreError {
        StoreError::Other {
            path: self.path.display().to_string(),
            message,
        }
    }

    // ---- change log ----

    const CHANGE_SELECT: &'static str =
        "SELECT c.id, c.kind, p.url, p.source, c.detected_at, c.from_version,
            c.to_version, c.words_added, c.words_removed, c.baseline, c.page_id,
            COALESCE((SELECT title FROM versions v WHERE v.page_id = c.page_id
                      AND v.version = COALESCE(c.to_version, c.from_version)), '') AS title
         FROM changes c JOIN pages p ON p.id = c.page_id";

    fn change_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
        let kind: String = r.get("kind")?;
        Ok(ChangeRow {
            id: r.get("id")?,
            kind: ChangeKind::parse(&kind).unwrap_or(ChangeKind::Changed),
            url: r.get("url")?,
            title: r.get("title")?,
            source: r.get("source")?,
            detected_at: r.get("detected_at")?,
            from_version: r.get("from_version")?,
            to_version: r.get("to_version")?,
            words_added: r.get("words_added")?,
            words_removed: r.get("words_removed")?,
            baseline: r.get("baseline")?,
            page_id: r.get("page_id")?,
        })
    }

    /// The change log, newest first.
    pub fn changes(&self, f: &LogFilter) -> Result<Vec<ChangeRow>> {
        self.read(|c| {
            let sql = format!(
                "{} WHERE (?1 IS NULL OR c.detected_at >= ?1) AND (?2 IS NULL OR p.source = ?2)
                   AND (?3 IS NULL OR c.kind = ?3) AND (?4 OR c.baseline = 0)
                 ORDER BY c.detected_at DESC, c.id DESC LIMIT ?5",
                Self::CHANGE_SELECT
            );
            let limit = f.limit.map(|l| l as i64).unwrap_or(-1);
            let mut st = c.prepare(&sql)?;
            st.query_map(
                params![
                    f.since,
                    f.source,
                    f.kind.map(ChangeKind::as_str),
                    f.include_baseline,
                    limit
                ],
                Self::change_from_row,
            )?
            .collect()
        })
    }

    pub fn change(&self, id: i64) -> Result<Option<ChangeRow>> {
        self.read(|c| {
            c.query_row(
                &format!("{} WHERE c.id = ?1", Self::CHANGE_SELECT),
                [id],
                Self::change_from_row,
            )
            .optional()
        })
    }

    // ---- outbox ----

    /// Alerts due for (re)delivery now.
    pub fn due_alerts(&self, now: &str) -> Result<Vec<OutboxRow>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, change_id, message_id, recipients, attempts, digest, digest_id FROM outbox
                 WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id",
            )?;
            st.query_map([now], |r| {
                let recipients: String = r.get(3)?;
                Ok(OutboxRow {
                    id: r.get(0)?,
                    change_id: r.get(1)?,
                    message_id: r.get(2)?,
                    recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                    attempts: r.get(4)?,
                    digest: r.get(5)?,
                    digest_id: r.get(6)?,
                })
            })?
            .collect()
        })
    }

    /// Put alerts into one digest mail, for good: a retry resends the same batch.
    pub fn assign_digest(&self, ids: &[i64], digest_id: &str) -> Result<()> {
        self.tx(|tx| {
            for id in ids {
                tx.execute(
                    "UPDATE outbox SET digest_id = ?2 WHERE id = ?1 AND digest_id IS NULL",
                    params![id, digest_id],
                )?;
            }
            Ok(())
        })
    }

    pub fn mark_sent(&self, id: i64, at: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, at],
            )
            .map(|_| ())
        })
    }

    /// A failed attempt: retry at `next_at`, or give up (`next_at = None`).
    pub fn mark_attempt_failed(&self, id: i64, error: &str, next_at: Option<&str>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2,
                   status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                   next_attempt_at = COALESCE(?3, next_attempt_at)
                 WHERE id = ?1",
                params![id, error, next_at],
            )
            .map(|_| ())
        })
    }

    /// The outbox, newest first, with each alert's change.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT o.id, o.change_id, o.status, o.attempts, o.next_attempt_at, o.last_error, o.sent_at,
                        o.recipients, o.digest, c.kind, p.url
                 FROM outbox o JOIN changes c ON c.id = o.change_id JOIN pages p ON p.id = c.page_id
                 ORDER BY o.id DESC LIMIT ?1",
            )?;
            st.query_map([limit as i64], |r| {
                let recipients: String = r.get(7)?;
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    change_id: r.get(1)?,
                    status: r.get(2)?,
                    attempts: r.get(3)?,
                    next_attempt_at: r.get(4)?,
                    last_error: r.get(5)?,
                    sent_at: r.get(6)?,
                    recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                    digest: r.get(8)?,
                    kind: r.get(9)?,
                    url: r.get(10)?,
                })
            })?
            .collect()
        })
    }

    /// Make failed (or still pending) alerts due now, with a fresh attempt count.
    /// `None` retries every failed alert. Returns how many were queued.
    pub fn retry_alerts(&self, id: Option<i64>, now: &str) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2
                 WHERE status != 'sent' AND (?1 IS NULL AND status = 'failed' OR id = ?1)",
                params![id, now],
            )
        })
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.read(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0),
                        COALESCE(SUM(status = 'sent'), 0) FROM outbox",
                [],
                |r| {
                    Ok(OutboxCounts {
                        pending: r.get(0)?,
                        failed: r.get(1)?,
                        sent: r.get(2)?,
                    })
                },
            )
        })
    }

    // ---- summaries ----

    pub fn source_summaries(&self) -> Result<Vec<SourceSummary>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT s.name, s.last_check_at, s.last_status, s.last_error,
                   (SELECT COUNT(*) FROM pages p WHERE p.source = s.name),
                   (SELECT COUNT(*) FROM pages p WHERE p.source = s.name AND p.status = 'removed'),
                   (SELECT COUNT(*) FROM pages p WHERE p.source = s.name AND p.last_status = 'failed')
                 FROM sources s ORDER BY s.name",
            )?;
            st.query_map([], |r| {
                Ok(SourceSummary {
                    name: r.get(0)?,
                    last_check_at: r.get(1)?,
                    last_status: r.get(2)?,
                    last_error: r.get(3)?,
                    pages: r.get(4)?,
                    removed: r.get(5)?,
                    failing: r.get(6)?,
                })
            })?
            .collect()
        })
    }
}

/// When an alert with this digest rule, detected at `at`, is first due: now, or for a daily
/// digest the next HH:MM (UTC) after `at`.
fn digest_due_at(digest: Option<&str>, at: &str) -> String {
    let daily = digest
        .and_then(|d| d.strip_prefix("daily "))
        .and_then(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M").ok());
    let (Some(time), Ok(detected)) = (daily, chrono::DateTime::parse_from_rfc3339(at)) else {
        return at.to_string();
    };
    let detected = detected.with_timezone(&chrono::Utc);
    let today = detected.date_naive().and_time(time).and_utc();
    let due = if today > detected {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    crate::util::rfc3339(due)
}

/// Why one check of a group was not written.
enum GroupError {
    Sql(rusqlite::Error),
    Other(String),
}

/// Writes `checks` in one transaction. Without `isolate`, the first failing check fails the
/// whole call (nothing is written); with it, each check is a savepoint and a failing one is
/// rolled back alone.
fn write_group(
    conn: &mut Connection,
    checks: &[CheckCommit<'_>],
    compressed: &[std::result::Result<Option<StoredHtml<'_>>, String>],
    instance: &str,
    isolate: bool,
) -> rusqlite::Result<Vec<std::result::Result<Option<i64>, GroupError>>> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(checks.len());
    for (check, raw) in checks.iter().zip(compressed) {
        let raw = match raw {
            Ok(r) => r.as_ref().map(|(coding, bytes)| (*coding, &bytes[..])),
            Err(e) => {
                out.push(Err(GroupError::Other(e.clone())));
                continue;
            }
        };
        if !isolate {
            // An error drops `tx`: the group is rolled back.
            out.push(Ok(write_check(&tx, check, raw, instance)?));
            continue;
        }
        // Dropped without commit, a savepoint rolls back what it holds.
        let sp = tx.savepoint()?;
        match write_check(&sp, check, raw, instance) {
            Ok(id) => {
                sp.commit()?;
                out.push(Ok(id));
            }
            Err(e) => {
                // Some errors (disk full, I/O) make SQLite roll back the whole transaction,
                // not just the savepoint: then nothing of the group is written.
                if sp.is_autocommit() {
                    return Err(e);
                }
                out.push(Err(GroupError::Sql(e)));
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Insert the pages of `urls` not yet tracked, in one transaction; the rows it added.
fn insert_pages(
    conn: &mut Connection,
    urls: &[&str],
    source: &str,
    baseline: bool,
    at: &str,
) -> rusqlite::Result<Vec<Page>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut added = Vec::new();
    for url in urls {
        let n = exec(
            &tx,
            "INSERT OR IGNORE INTO pages (url, source, first_seen_at, baseline) VALUES (?1, ?2, ?3, ?4)",
            params![url, source, at, baseline],
        )?;
        if n == 1 {
            added.push(Page::added(
                tx.last_insert_rowid(),
                url,
                source,
                baseline,
                at,
            ));
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Write one check (its page row, version, change, outbox row, schedule) in `tx`.
fn write_check(
    tx: &Connection,
    check: &CheckCommit<'_>,
    compressed: Option<(Coding, &[u8])>,
    instance: &str,
) -> rusqlite::Result<Option<i64>> {
    let id = write_result(tx, check, compressed, instance)?;
    if let Some(s) = check.schedule {
        exec(
            tx,
            "UPDATE pages SET next_check_at = ?2, last_news_at = ?3, final_url = COALESCE(?4, final_url)
             WHERE id = ?1",
            params![check.page.id, s.next_check_at, s.last_news_at, s.final_url],
        )?;
    }
    Ok(id)
}

/// The page row, version, change and outbox row a check's result makes.
fn write_result(
    tx: &Connection,
    check: &CheckCommit<'_>,
    compressed: Option<(Coding, &[u8])>,
    instance: &str,
) -> rusqlite::Result<Option<i64>> {
    let CheckCommit { page, at, .. } = *check;
    match check.result {
        CheckResult::Unchanged {
            validators,
            raw_hash,
        } => {
            exec(
                tx,
                "UPDATE pages SET last_check_at = ?2, last_status = 'unchanged', last_error = NULL,
                   gone_count = 0, fail_count = 0, suspect_hash = NULL,
                   etag = COALESCE(?3, etag), last_modified = COALESCE(?4, last_modified),
                   raw_hash = COALESCE(?5, raw_hash)
                 WHERE id = ?1",
                params![
                    page.id,
                    at,
                    validators.as_ref().and_then(|v| v.etag.clone()),
                    validators.as_ref().and_then(|v| v.last_modified.clone()),
                    raw_hash
                ],
            )?;
            Ok(None)
        }
        CheckResult::NewVersion {
            version,
            validators,
            change,
        } => {
            // A page known to have no version needs no look-up.
            let prev: Option<i64> = match page.has_versions {
                true => tx
                    .prepare_cached("SELECT MAX(version) FROM versions WHERE page_id = ?1")?
                    .query_row([page.id], |r| r.get(0))?,
                false => None,
            };
            let n = prev.unwrap_or(0) + 1;
            exec(tx,
                "INSERT INTO versions (page_id, version, fetched_at, title, published, body, text_hash,
                   raw_html, extractor_version, profile, raw_encoding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    page.id,
                    n,
                    at,
                    version.title,
                    version.published,
                    version.body,
                    version.text_hash,
                    compressed.map_or(&[][..], |c| c.1),
                    version.extractor_version,
                    version.profile,
                    compressed.map_or("zlib", |c| c.0.as_str())
                ],
            )?;
            exec(tx,
                "UPDATE pages SET last_check_at = ?2, last_status = ?3, last_error = NULL, status = 'active',
                   gone_count = 0, fail_count = 0, suspect_hash = NULL, baseline = 0,
                   etag = ?4, last_modified = ?5, raw_hash = ?6
                 WHERE id = ?1",
                params![
                    page.id,
                    at,
                    change.kind.as_str(),
                    validators.etag,
                    validators.last_modified,
                    version.raw_hash
                ],
            )?;
            let id = insert_change(tx, page, change, prev, Some(n), at, instance)?;
            Ok(Some(id))
        }
        CheckResult::Gone { status, change } => {
            let reason = format!("HTTP {status}");
            exec(tx,
                "UPDATE pages SET last_check_at = ?2, last_status = 'gone', last_error = ?3,
                   gone_count = gone_count + 1, status = CASE WHEN ?4 THEN 'removed' ELSE status END,
                   etag = NULL, last_modified = NULL, raw_hash = NULL
                 WHERE id = ?1",
                params![page.id, at, reason, change.is_some()],
            )?;
            match change {
                Some(change) => {
                    let last: Option<i64> = tx.query_row(
                        "SELECT MAX(version) FROM versions WHERE page_id = ?1",
                        [page.id],
                        |r| r.get(0),
                    )?;
                    Ok(Some(insert_change(
                        tx, page, change, last, None, at, instance,
                    )?))
                }
                None => Ok(None),
            }
        }
        CheckResult::Failed {
            reason,
            suspect_hash,
            ..
        } => {
            exec(
                tx,
                "UPDATE pages SET last_check_at = ?2, last_status = 'failed', last_error = ?3,
                   fail_count = fail_count + 1, suspect_hash = ?4
                 WHERE id = ?1",
                params![page.id, at, reason, suspect_hash],
            )?;
            Ok(None)
        }
    }
}

fn insert_change(
    tx: &Connection,
    page: &Page,
    change: &NewChange,
    from: Option<i64>,
    to: Option<i64>,
    at: &str,
    instance: &str,
) -> rusqlite::Result<i64> {
    exec(tx,
        "INSERT INTO changes (page_id, kind, detected_at, from_version, to_version, words_added, words_removed, baseline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            page.id,
            change.kind.as_str(),
            at,
            from,
            to,
            change.words_added as i64,
            change.words_removed as i64,
            change.baseline
        ],
    )?;
    let id = tx.last_insert_rowid();
    if !change.baseline && !change.alert_to.is_empty() {
        // Stable per change: a retry after a crash sends the very same Message-ID.
        let message_id = format!("<change-{id}.{instance}@presswatch>");
        let recipients = serde_json::to_string(&change.alert_to).unwrap_or_else(|_| "[]".into());
        let due = digest_due_at(change.digest.as_deref(), at);
        exec(
            tx,
            "INSERT INTO outbox (change_id, message_id, recipients, next_attempt_at, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, message_id, recipients, due, change.digest],
        )?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nv(body: &str) -> NewVersion {
        NewVersion {
            title: "T".into(),
            published: None,
            body: body.into(),
            text_hash: crate::util::sha256_hex(body.as_bytes()),
            raw_html: RawHtml::Plain(format!("<p>{body}</p>").into_bytes()),
            raw_hash: "r".into(),
            extractor_version: 1,
            profile: "generic".into(),
        }
    }

    fn change(kind: ChangeKind) -> NewChange {
        NewChange {
            kind,
            words_added: 1,
            words_removed: 0,
            baseline: false,
            alert_to: vec!["a@example.org".into()],
            digest: None,
        }
    }

    #[test]
    fn ensure_pages_returns_the_rows_it_added() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("p.db")).expect("open");
        let at = "2026-01-01T00:00:00Z";
        assert_eq!(
            s.ensure_pages(&["https://x/a"], "other", false, at)
                .expect("a")
                .len(),
            1
        );
        let added = s
            .ensure_pages(
                &["https://x/a", "https://x/b", "https://x/c"],
                "src",
                true,
                at,
            )
            .expect("ensure");
        // https://x/a belongs to another source.
        let stored = s.pages_of_source("src").expect("pages");
        let key = |p: &Page| {
            (
                p.id,
                p.url.clone(),
                p.source.clone(),
                p.baseline,
                p.removed,
                p.first_seen_at.clone(),
                p.last_check_at.clone(),
                p.next_check_at.clone(),
                p.raw_hash.clone(),
                p.has_versions,
            )
        };
        assert_eq!(
            added.iter().map(key).collect::<Vec<_>>(),
            stored.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!(added.len(), 2);
        assert!(
            s.ensure_pages(&["https://x/b"], "src", true, at)
                .expect("again")
                .is_empty()
        );
    }

    #[test]
    fn versions_changes_and_outbox_in_one_transaction() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("db/p.db")).expect("open");
        assert!(
            s.ensure_page("https://x/a", "src", false, "2026-01-01T00:00:00Z")
                .expect("page")
        );
        assert!(
            !s.ensure_page("https://x/a", "src", false, "2026-01-01T00:00:00Z")
                .expect("page")
        );
        let page = s.page_by_url("https://x/a").expect("q").expect("page");
        let r = CheckResult::NewVersion {
            version: Box::new(nv("one")),
            validators: Validators::default(),
            change: change(ChangeKind::New),
        };
        let c1 = s
            .commit_check(&page, &r, "2026-01-01T00:00:01Z")
            .expect("commit");
        let r = CheckResult::NewVersion {
            version: Box::new(nv("two")),
            validators: Validators::default(),
            change: change(ChangeKind::Changed),
        };
        let c2 = s
            .commit_check(&page, &r, "2026-01-01T00:00:02Z")
            .expect("commit");
        assert!(c1.is_some() && c2.is_some());
        let v = s.version(page.id, None).expect("q").expect("latest");
        assert_eq!((v.version, v.body.as_str()), (2, "two"));
        assert_eq!(
            s.raw_html(page.id, 1).expect("q").expect("raw"),
            b"<p>one</p>"
        );
        let log = s.changes(&LogFilter::default()).expect("log");
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].kind, ChangeKind::Changed);
        assert_eq!((log[0].from_version, log[0].to_version), (Some(1), Some(2)));
        let due = s.due_alerts("2026-01-02T00:00:00Z").expect("due");
        assert_eq!(due.len(), 2);
        assert_ne!(due[0].message_id, due[1].message_id);
        s.mark_sent(due[0].id, "2026-01-02T00:00:00Z")
            .expect("sent");
        s.mark_attempt_failed(due[1].id, "550 no", None)
            .expect("failed");
        let counts = s.outbox_counts().expect("counts");
        assert_eq!((counts.pending, counts.sent, counts.failed), (0, 1, 1));
    }

    #[test]
    fn a_check_that_cannot_be_written_fails_alone_in_its_group() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("p.db")).expect("open");
        let at = "2026-01-01T00:00:00Z";
        let added = s
            .ensure_pages(&["https://x/a", "https://x/b"], "src", false, at)
            .expect("pages");
        // A page row that does not exist: its version breaks the foreign key.
        let mut ghost = added[0].clone();
        ghost.id = 9999;
        let result = |body: &str| CheckResult::NewVersion {
            version: Box::new(nv(body)),
            validators: Validators::default(),
            change: change(ChangeKind::New),
        };
        let (ra, rg, rb) = (result("a"), result("ghost"), result("b"));
        let check = |page, result| CheckCommit {
            page,
            result,
            at,
            schedule: None,
        };
        let out = s.commit_checks(&[
            check(&added[0], &ra),
            check(&ghost, &rg),
            check(&added[1], &rb),
        ]);
        assert_eq!(out.len(), 3);
        assert!(out[0].as_ref().is_ok_and(Option::is_some), "{:?}", out[0]);
        assert!(out[1].is_err(), "{:?}", out[1]);
        assert!(out[2].as_ref().is_ok_and(Option::is_some), "{:?}", out[2]);
        for (page, body) in [(&added[0], "a"), (&added[1], "b")] {
            let v = s.version(page.id, None).expect("q").expect("stored");
            assert_eq!(v.body, body);
        }
        assert_eq!(s.changes(&LogFilter::default()).expect("log").len(), 2);
    }

    #[test]
    fn baseline_changes_are_hidden_and_not_alerted() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(&dir.path().join("p.db")).expect("open");
        s.ensure_page("https://x/a", "src", true, "t")
            .expect("page");
        let page = s.page_by_url("https://x/a").expect("q").expect("page");
        let mut ch = change(ChangeKind::New);
        ch.baseline = true;
        let r = CheckResult::NewVersion {
            version: Box::new(nv("one")),
            validators: Validators::default(),
            change: ch,
        };
        s.commit_check(&page, &r, "2026-01-01T00:00:01Z")
            .expect("commit");
        assert!(s.changes(&LogFilter::default()).expect("log").is_empty());
        let all = LogFilter {
            include_baseline: true,
            ..Default::default()
        };
        assert_eq!(s.changes(&all).expect("log").len(), 1);
        assert!(s.due_alerts("9999").expect("due").is_empty());
    }

    #[test]
    fn daily_digest_waits_for_its_hour() {
        assert_eq!(
            digest_due_at(None, "2026-11-23T10:00:00Z"),
            "2026-11-23T10:00:00Z"
        );
        assert_eq!(
            digest_due_at(Some("cycle"), "2026-11-23T10:00:00Z"),
            "2026-11-23T10:00:00Z"
        );
        assert_eq!(
            digest_due_at(Some("daily 07:30"), "2026-11-23T10:00:00Z"),
            "2026-11-24T07:30:00Z"
        );
        assert_eq!(
            digest_due_at(Some("daily 18:00"), "2026-11-23T10:00:00Z"),
            "2026-11-23T18:00:00Z"
        );
    }

    #[test]
    fn reopen_keeps_schema_version() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("p.db");
        let id1 = Store::open(&path).expect("open").instance_id().expect("id");
        let id2 = Store::open(&path)
            .expect("reopen")
            .instance_id()
            .expect("id");
        assert_eq!(id1, id2);
    }
}
