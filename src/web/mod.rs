//! The read-only web change log (axum): `/`, `/changes/{id}`, `/pages/{id}`, `/feed.atom`,
//! `/healthz`, `/metrics`.
//!
//! Enabled by `[web] listen`; served by `presswatch run` only. Nothing here changes state: every
//! route is GET (HEAD is answered by axum), anything else is 405. Pages are rendered on the
//! server (maud, every value escaped), with no JavaScript and no external resources. Database
//! work runs on the blocking pool.

pub mod feed;
pub mod health;
pub mod metrics;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::check::{Context, CycleReport};
use crate::config::{Config, WebConfig};
use crate::store::web::ChangeQuery;
use crate::store::{ChangeKind, Store, StoreError};

pub use health::Health;
pub use metrics::Metrics;

/// Changes per page of the change log.
pub const PAGE_SIZE: usize = 50;
/// Entries in the Atom feed.
pub const FEED_SIZE: usize = 50;
/// Paragraphs of context around a change in a diff.
const DIFF_CONTEXT: usize = 1;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// `[web] base_url` without a trailing slash (absolute links in the feed).
    pub base_url: Option<String>,
    /// The path of `base_url` (e.g. "/presswatch" behind a reverse proxy), or "".
    pub prefix: String,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        web: &WebConfig,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> AppState {
        let base_url = web
            .base_url
            .as_deref()
            .map(|b| b.trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty());
        let prefix = base_url
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok())
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        AppState {
            store,
            base_url,
            prefix,
            metrics,
            health,
        }
    }
}

/// The metrics and health the daemon updates after each cycle.
#[derive(Clone)]
pub struct Monitor {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Monitor {
    /// For a daemon starting now on a cron `schedule`.
    pub fn for_schedule(schedule: &str) -> Monitor {
        Monitor {
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::for_schedule(schedule)),
        }
    }

    /// Record a finished cycle (its report and how long it took).
    pub fn record_cycle(&self, report: &CycleReport, elapsed: Duration) {
        let now = chrono::Utc::now();
        self.metrics
            .record_cycle(report, elapsed, now.timestamp_millis() as f64 / 1000.0);
        self.health
            .record_cycle(now, report.pages_checked, report.failed);
    }
}

/// Start the web server of `presswatch run` when `[web] listen` is set: bind now (so a busy
/// port is an error at start), serve until `ctx.shutdown`.
pub async fn start(
    ctx: &Context,
    monitor: &Monitor,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(listen) = ctx.cfg.web.listen.clone() else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("web.listen {listen}: cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    tracing::info!(address = %addr, "web change log on http://{addr}/");
    let state = AppState::new(
        ctx.store.clone(),
        &ctx.cfg.web,
        monitor.metrics.clone(),
        monitor.health.clone(),
    );
    let shutdown = ctx.shutdown.clone();
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = serve(listener, state, shutdown).await {
            tracing::error!("web server: {e}");
        }
    })))
}

/// Serve the web change log on `listener` until `shutdown` is cancelled (requests in flight
/// are finished).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// The routes; GET (and HEAD) only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/changes/{id}", get(change))
        .route("/pages/{id}", get(page))
        .route("/feed.atom", get(atom))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

// ---- errors ----

enum WebError {
    NotFound(String),
    BadRequest(String),
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

struct ErrorPage {
    prefix: String,
    error: WebError,
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let (status, title, msg) = match self.error {
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            WebError::Internal(m) => {
                tracing::error!("web: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, "Server error", m)
            }
        };
        (
            status,
            Html(pages::error_page(&self.prefix, title, &msg).into_string()),
        )
            .into_response()
    }
}

type WebResult = Result<Response, ErrorPage>;

impl AppState {
    fn fail(&self, error: WebError) -> ErrorPage {
        ErrorPage {
            prefix: self.prefix.clone(),
            error,
        }
    }

    /// Run store work on the blocking pool.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, WebError> + Send + 'static,
    ) -> Result<T, ErrorPage> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.fail(e)),
            Err(e) => Err(self.fail(WebError::Internal(format!("database task: {e}")))),
        }
    }
}

async fn not_found(State(st): State<AppState>, req: Request) -> ErrorPage {
    st.fail(WebError::NotFound(format!(
        "Nothing at {}.",
        req.uri().path()
    )))
}

fn html(markup: maud::Markup) -> Response {
    Html(markup.into_string()).into_response()
}

// ---- the change log ----

/// Query of `/` and `/feed.atom`; lenient: empty or unknown values mean "any".
#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    source: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    page: Option<String>,
    baseline: Option<String>,
}

impl LogParams {
    fn source(&self) -> Option<String> {
        self.source
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
    fn kind(&self) -> Option<ChangeKind> {
        self.kind.as_deref().and_then(ChangeKind::parse)
    }
    fn q(&self) -> String {
        self.q
            .as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect()
    }
    fn baseline(&self) -> bool {
        matches!(self.baseline.as_deref(), Some("1" | "true" | "on" | "yes"))
    }
    fn page(&self) -> usize {
        self.page
            .as_deref()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }
    fn query(&self, page: usize, limit: usize) -> ChangeQuery {
        let q = self.q();
        ChangeQuery {
            source: self.source(),
            kind: self.kind(),
            title: Some(q).filter(|q| !q.is_empty()),
            include_baseline: self.baseline(),
            offset: (page - 1) * limit,
            limit,
        }
    }
    /// `?source=..&kind=..` for links, with `page` when > 1.
    fn link(&self, prefix: &str, page: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = self.source() {
            ser.append_pair("source", &s);
        }
        if let Some(k) = self.kind() {
            ser.append_pair("kind", k.as_str());
        }
        let q = self.q();
        if !q.is_empty() {
            ser.append_pair("q", &q);
        }
        if self.baseline() {
            ser.append_pair("baseline", "1");
        }
        if page > 1 {
            ser.append_pair("page", &page.to_string());
        }
        let qs = ser.finish();
        if qs.is_empty() {
            format!("{prefix}/")
        } else {
            format!("{prefix}/?{qs}")
        }
    }
}

async fn index(State(st): State<AppState>, Query(params): Query<LogParams>) -> WebResult {
    let page = params.page();
    let query = params.query(page, PAGE_SIZE);
    let (result, sources) = st
        .db(move |s| Ok((s.web_changes(&query)?, s.web_sources()?)))
        .await?;
    let pages = (result.total.max(0) as usize).div_ceil(PAGE_SIZE).max(1);
    let source = params.source();
    let q = params.q();
    let view = pages::LogView {
        prefix: &st.prefix,
        rows: &result.rows,
        total: result.total,
        page,
        pages,
        sources: &sources,
        source: source.as_deref(),
        kind: params.kind(),
        q: &q,
        baseline: params.baseline(),
        newer: (page > 1).then(|| params.link(&st.prefix, (page - 1).min(pages))),
        older: (page < pages).then(|| params.link(&st.prefix, page + 1)),
    };
    Ok(html(pages::change_log(&view)))
}

fn parse_id(st: &AppState, raw: &str, what: &str) -> Result<i64, ErrorPage> {
    raw.parse::<i64>().map_err(|_| {
        st.fail(WebError::BadRequest(format!(
            "{what} id {raw:?} is not a number."
        )))
    })
}

// ---- one change ----

#[derive(Debug, Default, Deserialize)]
pub struct ChangeParams {
    view: Option<String>,
    context: Option<String>,
}

async fn change(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<ChangeParams>,
) -> WebResult {
    let id = parse_id(&st, &raw, "change")?;
    let full = params.context.as_deref() == Some("all");
    let view = match params.view.as_deref() {
        Some("side") => pages::DiffView::SideBySide,
        _ => pages::DiffView::Inline,
    };
    let (change, old, new, diff) = st
        .db(move |s| {
            let Some(c) = s.change(id)? else {
                return Err(WebError::NotFound(format!("No change #{id}.")));
            };
            let old = match c.from_version {
                Some(n) => s.version(c.page_id, Some(n))?,
                None => None,
            };
            let new = match c.to_version {
                Some(n) => s.version(c.page_id, Some(n))?,
                None => None,
            };
            let diff = match (&old, &new) {
                (Some(o), Some(n)) if c.kind == ChangeKind::Changed => Some(crate::diff::diff(
                    &crate::util::statement_text(&o.title, &o.body),
                    &crate::util::statement_text(&n.title, &n.body),
                    if full { usize::MAX / 4 } else { DIFF_CONTEXT },
                )),
                _ => None,
            };
            Ok((c, old, new, diff))
        })
        .await?;
    Ok(html(pages::change_page(&pages::ChangeView {
        prefix: &st.prefix,
        change: &change,
        old: old.as_ref(),
        new: new.as_ref(),
        diff: diff.as_ref(),
        view,
        full,
    })))
}

// ---- a statement's history ----

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    version: Option<String>,
}

async fn page(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<PageParams>,
) -> WebResult {
    let id = parse_id(&st, &raw, "page")?;
    let wanted = match params
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(v) => Some(v.trim_start_matches('v').parse::<i64>().map_err(|_| {
            st.fail(WebError::BadRequest(format!(
                "version {v:?} is not a number."
            )))
        })?),
    };
    let (info, versions, changes, shown) = st
        .db(move |s| {
            let Some(info) = s.page_info(id)? else {
                return Err(WebError::NotFound(format!("No page #{id}.")));
            };
            let versions = s.version_list(id)?;
            let changes = s.page_changes(id)?;
            let shown = s.version(id, wanted)?;
            if let (Some(n), None) = (wanted, &shown) {
                return Err(WebError::NotFound(format!(
                    "Page #{id} has no version {n}."
                )));
            }
            Ok((info, versions, changes, shown))
        })
        .await?;
    Ok(html(pages::page_history(&pages::PageView {
        prefix: &st.prefix,
        page: &info,
        versions: &versions,
        changes: &changes,
        shown: shown.as_ref(),
    })))
}

// ---- the Atom feed ----

async fn atom(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<LogParams>,
) -> WebResult {
    let query = params.query(1, FEED_SIZE);
    let (instance, entries) = st
        .db(move |s| {
            let rows = s.web_changes(&query)?.rows;
            let mut entries = Vec::with_capacity(rows.len());
            for c in rows {
                let diff = match (c.kind, c.from_version, c.to_version) {
                    (ChangeKind::Changed, Some(a), Some(b)) => {
                        match (
                            s.version(c.page_id, Some(a))?,
                            s.version(c.page_id, Some(b))?,
                        ) {
                            (Some(o), Some(n)) => Some(crate::diff::diff(
                                &crate::util::statement_text(&o.title, &o.body),
                                &crate::util::statement_text(&n.title, &n.body),
                                DIFF_CONTEXT,
                            )),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                entries.push(feed::FeedEntry { change: c, diff });
            }
            Ok((s.instance_id()?, entries))
        })
        .await?;
    let base = match &st.base_url {
        Some(b) => b.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
                })
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let self_url = {
        let link = params.link("", 1);
        format!("{base}/feed.atom{}", link.strip_prefix('/').unwrap_or(""))
    };
    let started = crate::util::rfc3339(st.health.started_at());
    let body = feed::render(&base, &self_url, &instance, &started, &entries);
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}

// ---- operations ----

async fn healthz(State(st): State<AppState>) -> Response {
    let (status, text) = match st.health.status(chrono::Utc::now()) {
        Ok(msg) => (StatusCode::OK, msg),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{text}\n"),
    )
        .into_response()
}

async fn metrics_text(State(st): State<AppState>) -> WebResult {
    let counts = st.db(|s| Ok(s.outbox_counts()?)).await?;
    st.metrics.set_outbox(&counts);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        st.metrics.encode(),
    )
        .into_response())
}

// ---- `presswatch healthcheck` ----

/// Ask the running daemon's `/healthz` (for a container HEALTHCHECK). `Ok(status line)` on
/// 200, `Err(one-line reason)` otherwise.
pub async fn healthcheck(web: &WebConfig) -> Result<String, String> {
    let Some(listen) = web.listen.as_deref() else {
        return Err(
            "[web] listen is not configured (set it in the config or PRESSWATCH_WEB_LISTEN), so there is no /healthz to ask"
                .to_string(),
        );
    };
    // A wildcard listen address is reached on loopback.
    let host = match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let ip: std::net::IpAddr = if a.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            std::net::SocketAddr::new(ip, a.port()).to_string()
        }
        Ok(a) => a.to_string(),
        Err(_) => listen.to_string(),
    };
    let url = format!("http://{host}/healthz");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let res = client.get(&url).send().await.map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        format!("{url}: {msg}")
    })?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    let line = body.lines().next().unwrap_or("").trim().to_string();
    if status == reqwest::StatusCode::OK {
        Ok(line)
    } else {
        Err(format!("{url}: HTTP {}: {line}", status.as_u16()))
    }
}

/// The parts of a [`Config`] the web needs, for tests and tools that build a state by hand.
pub fn state_for(cfg: &Config, store: Arc<Store>, monitor: &Monitor) -> AppState {
    AppState::new(
        store,
        &cfg.web,
        monitor.metrics.clone(),
        monitor.health.clone(),
    )
}
