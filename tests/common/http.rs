//! `FixtureSite`: a real HTTP/1.1 server on 127.0.0.1 serving canned
//! responses, with conditional-GET support, a request log and failure
//! injection. It runs on its own thread with its own tokio runtime, so plain
//! `#[test]` functions can use it while driving the binary as a subprocess.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};

/// A canned response. `Content-Type` is sent from `content_type` (unless empty);
/// `headers` are sent verbatim in addition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn new(status: u16, content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.into(),
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// 200, `text/html; charset=utf-8`.
    pub fn html(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, "text/html; charset=utf-8", body)
    }

    /// 200, `application/xml; charset=utf-8` (use `with_content_type` for
    /// `application/rss+xml` / `application/atom+xml`).
    pub fn xml(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, "application/xml; charset=utf-8", body)
    }

    /// 200, `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, "text/plain; charset=utf-8", body)
    }

    /// Bare status (e.g. 503, 429, 500, 404) with a short text/plain body.
    pub fn status(code: u16) -> Response {
        let reason = axum::http::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        Response::new(
            code,
            "text/plain; charset=utf-8",
            format!("{code} {reason}\n"),
        )
    }

    /// Redirect (301/302/307/308) to `location` (absolute URL or path).
    pub fn redirect(code: u16, location: &str) -> Response {
        Response::status(code).with_header("Location", location)
    }

    /// Add a response header (e.g. `Retry-After`, or your own `ETag` /
    /// `Last-Modified`, which then replace the automatic ones).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_content_type(mut self, content_type: &str) -> Response {
        self.content_type = content_type.to_string();
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request as received, with the status the fixture answered.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Path without the query string, e.g. `/news`.
    pub path: String,
    /// Query string without `?`, if any.
    pub query: Option<String>,
    /// Arrival time (before any injected delay).
    pub at: Instant,
    /// Request headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Status code the fixture sent (or will send after the delay).
    pub status: u16,
}

impl RequestRecord {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `path?query`.
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }

    fn matches(&self, path: &str) -> bool {
        self.path == path || self.target() == path
    }
}

struct Route {
    resp: Response,
    /// Automatic strong ETag (quoted), derived from content type + body.
    auto_etag: String,
    /// Automatic Last-Modified, whole seconds since the epoch.
    auto_last_modified: u64,
}

#[derive(Default)]
struct Inner {
    routes: HashMap<String, Route>,
    delays: HashMap<String, Duration>,
    no_validators: HashMap<String, bool>,
    log: Vec<RequestRecord>,
    /// Last automatic Last-Modified handed out; kept strictly increasing so a
    /// changed body always gets a newer Last-Modified even within one second.
    last_lm: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fixture web server. Stops when dropped.
pub struct FixtureSite {
    addr: std::net::SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FixtureSite {
    /// Bind 127.0.0.1:0 and start serving on a background thread.
    pub fn start() -> FixtureSite {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fixture site");
        listener.set_nonblocking(true).expect("set_nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let shared: Shared = Arc::new(Mutex::new(Inner::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fixture-site-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fixture runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let app = axum::Router::new().fallback(handle).with_state(state);
                    tokio::select! {
                        res = axum::serve(listener, app).into_future() => {
                            if let Err(e) = res {
                                eprintln!("fixture site error: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels in-flight connection tasks
                // (including ones sleeping in an injected delay).
                drop(rt);
            })
            .expect("spawn fixture thread");
        FixtureSite {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url() + path` (`path` should start with `/`).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{}", self.base_url(), path)
        } else {
            format!("{}/{}", self.base_url(), path)
        }
    }

    /// Serve `resp` at `path`. `path` is matched against the request's
    /// `path?query` first, then its path alone. Replacing a response with an
    /// identical one keeps its ETag and Last-Modified; a changed one gets a new
    /// ETag and a strictly newer Last-Modified.
    pub fn set(&self, path: &str, resp: Response) {
        for (k, v) in &resp.headers {
            assert!(
                HeaderName::from_bytes(k.as_bytes()).is_ok() && HeaderValue::from_str(v).is_ok(),
                "invalid header {k:?}: {v:?}"
            );
        }
        assert!(
            axum::http::StatusCode::from_u16(resp.status).is_ok(),
            "invalid status {}",
            resp.status
        );
        let etag = auto_etag(&resp);
        let mut inner = lock(&self.shared);
        if let Some(old) = inner.routes.get(path)
            && old.auto_etag == etag
            && old.resp.status == resp.status
        {
            let lm = old.auto_last_modified;
            inner.routes.insert(
                path.to_string(),
                Route {
                    resp,
                    auto_etag: etag,
                    auto_last_modified: lm,
                },
            );
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let lm = now.max(inner.last_lm + 1);
        inner.last_lm = lm;
        inner.routes.insert(
            path.to_string(),
            Route {
                resp,
                auto_etag: etag,
                auto_last_modified: lm,
            },
        );
    }

    /// Stop serving `path` (requests then get 404).
    pub fn remove(&self, path: &str) {
        lock(&self.shared).routes.remove(path);
    }

    /// Delay every response for `path` (including 404s) by `delay` before
    /// sending it. `Duration::ZERO` clears it.
    pub fn set_delay(&self, path: &str, delay: Duration) {
        let mut inner = lock(&self.shared);
        if delay.is_zero() {
            inner.delays.remove(path);
        } else {
            inner.delays.insert(path.to_string(), delay);
        }
    }

    pub fn clear_delay(&self, path: &str) {
        self.set_delay(path, Duration::ZERO);
    }

    /// Enable (default) or disable the automatic ETag / Last-Modified headers and
    /// 304 handling for `path`, to imitate a server without conditional GET.
    pub fn set_conditional(&self, path: &str, enabled: bool) {
        let mut inner = lock(&self.shared);
        if enabled {
            inner.no_validators.remove(path);
        } else {
            inner.no_validators.insert(path.to_string(), true);
        }
    }

    /// The automatic ETag (with quotes) currently served for `path`, if any.
    pub fn etag(&self, path: &str) -> Option<String> {
        lock(&self.shared)
            .routes
            .get(path)
            .map(|r| r.auto_etag.clone())
    }

    /// All requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).log.clone()
    }

    /// Requests whose path (or `path?query`) equals `path`.
    pub fn requests_for(&self, path: &str) -> Vec<RequestRecord> {
        lock(&self.shared)
            .log
            .iter()
            .filter(|r| r.matches(path))
            .cloned()
            .collect()
    }

    /// Number of requests whose path (or `path?query`) equals `path`.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared)
            .log
            .iter()
            .filter(|r| r.matches(path))
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared).log.clear();
    }

    /// Poll until `hits(path) >= n` or `timeout`; returns the final hit count.
    pub fn wait_for_hits(&self, path: &str, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits(path);
            if hits >= n || Instant::now() >= deadline {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FixtureSite {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn auto_etag(resp: &Response) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    resp.content_type.hash(&mut h);
    resp.body.hash(&mut h);
    let a = h.finish();
    resp.body.len().hash(&mut h);
    let b = h.finish();
    format!("\"{a:016x}{b:016x}\"")
}

const HTTP_DATE: &str = "%a, %d %b %Y %H:%M:%S GMT";

fn http_date(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .expect("timestamp")
        .format(HTTP_DATE)
        .to_string()
}

fn parse_http_date(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), HTTP_DATE)
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// RFC 9110 weak comparison for If-None-Match.
fn none_match(header: &str, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || strip(t) == etag)
}

struct Planned {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Option<Duration>,
}

fn plan(
    inner: &Inner,
    method: &str,
    path: &str,
    target: &str,
    req: &[(String, String)],
) -> Planned {
    let req_header = |name: &str| {
        req.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let key = if inner.routes.contains_key(target) {
        target
    } else {
        path
    };
    let delay = inner
        .delays
        .get(target)
        .or_else(|| inner.delays.get(path))
        .copied();
    let Some(route) = inner.routes.get(key) else {
        return Planned {
            status: 404,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: b"404 Not Found\n".to_vec(),
            delay,
        };
    };
    let resp = &route.resp;
    let mut headers = Vec::new();
    if !resp.content_type.is_empty() {
        headers.push(("Content-Type".to_string(), resp.content_type.clone()));
    }
    headers.extend(resp.headers.iter().cloned());

    let conditional = resp.status == 200 && !inner.no_validators.contains_key(key);
    if conditional {
        let etag = match resp.header("etag") {
            Some(e) => e.to_string(),
            None => {
                headers.push(("ETag".into(), route.auto_etag.clone()));
                route.auto_etag.clone()
            }
        };
        let last_modified = match resp.header("last-modified") {
            Some(lm) => parse_http_date(lm),
            None => {
                headers.push(("Last-Modified".into(), http_date(route.auto_last_modified)));
                Some(route.auto_last_modified as i64)
            }
        };
        if method == "GET" || method == "HEAD" {
            let not_modified = match req_header("if-none-match") {
                Some(inm) => none_match(inm, &etag),
                None => match (
                    req_header("if-modified-since").and_then(parse_http_date),
                    last_modified,
                ) {
                    (Some(ims), Some(lm)) => ims >= lm,
                    _ => false,
                },
            };
            if not_modified {
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                return Planned {
                    status: 304,
                    headers,
                    body: Vec::new(),
                    delay,
                };
            }
        }
    }
    Planned {
        status: resp.status,
        headers,
        body: resp.body.clone(),
        delay,
    }
}

async fn handle(State(shared): State<Shared>, req: Request) -> axum::response::Response {
    let at = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let planned = {
        let mut inner = lock(&shared);
        let planned = plan(&inner, &method, &path, &target, &headers);
        inner.log.push(RequestRecord {
            method: method.clone(),
            path,
            query,
            at,
            headers,
            status: planned.status,
        });
        planned
    };
    if let Some(d) = planned.delay {
        tokio::time::sleep(d).await;
    }
    let mut builder = axum::http::Response::builder().status(planned.status);
    for (k, v) in &planned.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Body::from(planned.body))
        .unwrap_or_else(|e| panic!("fixture response for {target}: {e}"))
}
