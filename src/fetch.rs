//! HTTP: the only module that talks to the watched sites.
//!
//! Polite by construction: one shared client, a global concurrency limit, a minimum interval
//! between two requests to the same host, a size cap on every body, conditional GET.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::codec::Coding;
use crate::config::FetchConfig;

/// Validators from the last successful fetch, sent back as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful (2xx) response, body read in full (within the size cap).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the content finally came from (after redirects).
    pub final_url: Url,
    pub status: u16,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// The body, decoded.
    pub body: Vec<u8>,
    /// The body as it came, when the server compressed it (stored as is: see [`crate::codec`]).
    pub encoded: Option<(Coding, Vec<u8>)>,
}

/// What a GET returned, for the cases that are not failures.
#[derive(Debug)]
pub enum Outcome {
    Ok(Box<Fetched>),
    /// 304: the page is as it was.
    NotModified,
    /// 404 or 410: the page is gone (the caller decides after how many checks it is removed).
    Gone(u16),
}

/// A failed fetch. Every message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: timed out after {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("GET {url}: cannot connect to {host}: {reason}")]
    Connect {
        url: String,
        host: String,
        reason: String,
    },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: {reason}")]
    Encoding { url: String, reason: String },
    #[error("GET {url}: body larger than {max} bytes, not read")]
    TooLarge { url: String, max: u64 },
    #[error("GET {url}: disallowed by {robots}")]
    Robots { url: String, robots: String },
    #[error("GET {url}: host {host} paused until {until} ({reason})")]
    HostPaused {
        url: String,
        host: String,
        until: String,
        reason: String,
    },
    #[error("GET {url}: {reason}")]
    Other { url: String, reason: String },
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

impl FetchError {
    /// Short machine-readable kind, for the `sources` table and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::Status { status, .. } if *status >= 500 => "http-5xx",
            FetchError::Status { .. } => "http-status",
            FetchError::TooLarge { .. } => "too-large",
            FetchError::Encoding { .. } => "encoding",
            FetchError::Robots { .. } => "robots",
            FetchError::HostPaused { .. } => "host-paused",
            FetchError::Other { .. } => "other",
        }
    }
}

/// Consecutive failures (timeouts, refused connections, 5xx) that pause a host.
pub const BREAKER_FAILURES: u32 = 5;
/// How long the circuit breaker pauses a host.
const BREAKER_PAUSE: Duration = Duration::from_secs(30 * 60);
/// Longest `Retry-After` honoured; a site asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// When a 429 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(120);
/// How long a robots.txt is trusted before it is fetched again.
const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt (5xx, timeout) blocks its host before a new try.
const ROBOTS_ERROR_TTL: Duration = Duration::from_secs(10 * 60);

/// A host's health, kept across cycles (and saved in the database between runs).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HostStatus {
    pub host: String,
    pub consecutive_failures: u32,
    /// RFC 3339; requests to the host fail fast until then.
    pub paused_until: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone)]
enum Robots {
    AllowAll,
    /// 5xx or unreachable: nothing may be fetched for a while (as Google does).
    DisallowAll(String),
    Rules(Arc<texting_robots::Robot>),
}

/// The shared, polite HTTP fetcher.
pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    global: Semaphore,
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    health: Mutex<HashMap<String, HostStatus>>,
    robots: tokio::sync::Mutex<HashMap<String, (Instant, Robots)>>,
    /// The product token robots.txt groups are matched against ("presswatch").
    agent: String,
}

impl Fetcher {
    pub fn new(cfg: &FetchConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .timeout(cfg.timeout())
            .connect_timeout(cfg.timeout().min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| FetchError::Other {
                url: String::new(),
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        let agent = cfg
            .user_agent
            .split(['/', ' '])
            .next()
            .filter(|a| !a.is_empty())
            .unwrap_or("presswatch")
            .to_string();
        Ok(Fetcher {
            client,
            cfg: cfg.clone(),
            global: Semaphore::new(cfg.concurrency.max(1)),
            hosts: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            robots: tokio::sync::Mutex::new(HashMap::new()),
            agent,
        })
    }

    /// Hosts with failures or a pause, for `presswatch sources` and the database.
    pub fn host_statuses(&self) -> Vec<HostStatus> {
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<HostStatus> = h.values().cloned().collect();
        v.sort_by(|a, b| a.host.cmp(&b.host));
        v
    }

    /// Restore host health saved by an earlier run.
    pub fn restore_host_statuses(&self, statuses: Vec<HostStatus>) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        for st in statuses {
            h.insert(st.host.clone(), st);
        }
    }

    fn paused(&self, url: &Url) -> Option<FetchError> {
        let host = url.host_str()?;
        let h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let st = h.get(host)?;
        let until = st.paused_until.as_deref()?;
        let until_t = chrono::DateTime::parse_from_rfc3339(until).ok()?;
        (until_t > chrono::Utc::now()).then(|| FetchError::HostPaused {
            url: url.to_string(),
            host: host.to_string(),
            until: until.to_string(),
            reason: st.reason.clone().unwrap_or_default(),
        })
    }

    fn pause(&self, url: &Url, for_: Duration, reason: String) {
        let Some(host) = url.host_str() else { return };
        let until = chrono::Utc::now()
            + chrono::Duration::from_std(for_).unwrap_or(chrono::Duration::hours(1));
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let st = h.entry(host.to_string()).or_insert_with(|| HostStatus {
            host: host.to_string(),
            ..Default::default()
        });
        st.paused_until = Some(crate::util::rfc3339(until));
        st.reason = Some(reason);
    }

    /// Count a request's result for the host's circuit breaker.
    fn record(&self, url: &Url, result: &Result<Outcome, FetchError>) {
        let Some(host) = url.host_str() else { return };
        let failed = matches!(
            result,
            Err(FetchError::Timeout { .. } | FetchError::Connect { .. })
        ) || matches!(result, Err(FetchError::Status { status, .. }) if *status >= 500);
        let trip = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            if failed {
                let st = h.entry(host.to_string()).or_insert_with(|| HostStatus {
                    host: host.to_string(),
                    ..Default::default()
                });
                st.consecutive_failures += 1;
                st.consecutive_failures >= BREAKER_FAILURES
            } else {
                if result.is_ok()
                    && let Some(st) = h.get_mut(host)
                {
                    st.consecutive_failures = 0;
                }
                false
            }
        };
        if trip && let Err(e) = result {
            self.pause(
                url,
                BREAKER_PAUSE,
                format!("{BREAKER_FAILURES} failures in a row, last: {}", e.kind()),
            );
        }
    }

    /// The robots.txt rules for a URL's origin, fetched (politely) and cached.
    async fn robots_for(&self, url: &Url) -> Robots {
        let origin = url.origin().ascii_serialization();
        let mut cache = self.robots.lock().await;
        if let Some((expires, r)) = cache.get(&origin)
            && *expires > Instant::now()
        {
            return r.clone();
        }
        let robots_url = match Url::parse(&format!("{origin}/robots.txt")) {
            Ok(u) => u,
            Err(_) => return Robots::AllowAll,
        };
        self.wait_for_host(&robots_url, self.cfg.per_host_interval())
            .await;
        let (rules, ttl) = match self.request(&robots_url, None, 512 * 1024).await {
            Ok(Outcome::Ok(f)) => match texting_robots::Robot::new(&self.agent, &f.body) {
                Ok(r) => (Robots::Rules(Arc::new(r)), ROBOTS_TTL),
                Err(_) => (Robots::AllowAll, ROBOTS_TTL),
            },
            // No robots.txt (or 4xx): everything is allowed.
            // A body that cannot be decoded is treated like one that cannot be parsed.
            Ok(_)
            | Err(FetchError::Status {
                status: 400..=499, ..
            })
            | Err(FetchError::Encoding { .. }) => (Robots::AllowAll, ROBOTS_TTL),
            Err(e) => (Robots::DisallowAll(e.to_string()), ROBOTS_ERROR_TTL),
        };
        cache.insert(origin, (Instant::now() + ttl, rules.clone()));
        rules
    }

    /// Wait until this host may be asked again (`interval` after the last request to it),
    /// and reserve the slot.
    async fn wait_for_host(&self, url: &Url, interval: Duration) {
        if interval.is_zero() {
            return;
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts.entry(host).or_default().clone()
        };
        let mut last = slot.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + interval).await;
        }
        *last = Some(Instant::now());
    }

    /// GET a URL, politely: robots.txt, host pauses (Retry-After, circuit breaker), the
    /// global concurrency limit and the per-host interval; conditional headers when given.
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Outcome, FetchError> {
        self.get_in(url, validators, true).await
    }

    /// GET a discovery document (feed, listing page, sitemap): as [`Fetcher::get`], except
    /// that it does not queue behind the statement pages for a slot of the global limit. A
    /// source reads its documents one at a time, so this adds at most one request per
    /// source; without it, a paginated listing crawls behind the pages it already found.
    pub async fn get_document(&self, url: &Url) -> Result<Outcome, FetchError> {
        self.get_in(url, None, false).await
    }

    async fn get_in(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        limited: bool,
    ) -> Result<Outcome, FetchError> {
        // A robots.txt Crawl-delay longer than our own interval wins.
        let mut interval = self.cfg.per_host_interval();
        if self.cfg.respect_robots {
            match self.robots_for(url).await {
                Robots::AllowAll => {}
                Robots::DisallowAll(why) => {
                    return Err(FetchError::Other {
                        url: url.to_string(),
                        reason: format!("not fetched: robots.txt could not be read ({why})"),
                    });
                }
                Robots::Rules(r) => {
                    if let Some(delay) = r.delay.filter(|d| d.is_finite() && *d > 0.0) {
                        interval = interval.max(Duration::from_secs_f32(delay.min(60.0)));
                    }
                    if !r.allowed(url.as_str()) {
                        return Err(FetchError::Robots {
                            url: url.to_string(),
                            robots: format!("{}/robots.txt", url.origin().ascii_serialization()),
                        });
                    }
                }
            }
        }
        let _permit = match limited {
            true => Some(self.global.acquire().await.map_err(|_| FetchError::Other {
                url: url.to_string(),
                reason: "fetcher is shutting down".into(),
            })?),
            false => None,
        };
        self.wait_for_host(url, interval).await;
        // Checked last, right before the request: a pause may have begun while this waited.
        if let Some(e) = self.paused(url) {
            return Err(e);
        }
        let result = self.request(url, validators, self.cfg.max_bytes).await;
        self.record(url, &result);
        result
    }

    /// One request, no politeness (callers hold the permit and waited for the host).
    async fn request(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        max: u64,
    ) -> Result<Outcome, FetchError> {
        let mut headers = HeaderMap::new();
        // Decoded here, not by the client, so that the compressed body can be stored as is.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
        );
        if let Some(v) = validators {
            if let Some(etag) = v
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = v
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(header::IF_MODIFIED_SINCE, lm);
            }
        }

        let resp = self
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.classify(url, e))?;
        let status = resp.status();
        match status {
            StatusCode::NOT_MODIFIED => return Ok(Outcome::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(Outcome::Gone(status.as_u16())),
            // Retry-After on 429/503 pauses the whole host for as long as asked; a 429
            // without one still pauses it (the site said "too many"); a bare 503 is an
            // ordinary server error for the circuit breaker.
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                let asked = resp
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let wait = match (asked, status) {
                    (Some(w), _) => Some(w),
                    (None, StatusCode::TOO_MANY_REQUESTS) => Some(DEFAULT_RETRY_AFTER),
                    (None, _) => None,
                };
                if let Some(wait) = wait.map(|w| w.min(MAX_RETRY_AFTER)) {
                    self.pause(
                        url,
                        wait,
                        format!(
                            "HTTP {} with Retry-After {}s",
                            status.as_u16(),
                            wait.as_secs()
                        ),
                    );
                }
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            s if !s.is_success() => {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: s.as_u16(),
                });
            }
            _ => {}
        }
        let final_url = resp.url().clone();
        let h = resp.headers();
        let text_header = |name: header::HeaderName| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = text_header(header::CONTENT_TYPE);
        let coding =
            Coding::from_content_encoding(text_header(header::CONTENT_ENCODING).as_deref())
                .map_err(|c| FetchError::Encoding {
                    url: url.to_string(),
                    reason: format!("unsupported Content-Encoding {c:?}"),
                })?;
        let validators = Validators {
            etag: text_header(header::ETAG),
            last_modified: text_header(header::LAST_MODIFIED),
        };
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                max,
            });
        }
        // Read the body chunk by chunk, so a huge or endless body stops at the cap (then the
        // decoded body is capped too).
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.classify(url, e))?;
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    max,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let (body, encoded) = match coding {
            // An empty body stays empty whatever the header says.
            Some(_) if body.is_empty() => (body, None),
            None => (body, None),
            Some(coding) => {
                let decoded =
                    crate::codec::decode(coding, &body, max).map_err(|e| FetchError::Encoding {
                        url: url.to_string(),
                        reason: format!("corrupt {} body: {e}", coding.as_str()),
                    })?;
                if decoded.len() as u64 > max {
                    return Err(FetchError::TooLarge {
                        url: url.to_string(),
                        max,
                    });
                }
                (decoded, Some((coding, body)))
            }
        };
        Ok(Outcome::Ok(Box::new(Fetched {
            final_url,
            status: status.as_u16(),
            content_type,
            validators,
            body,
            encoded,
        })))
    }

    fn classify(&self, url: &Url, e: reqwest::Error) -> FetchError {
        let u = url.to_string();
        if e.is_timeout() {
            return FetchError::Timeout {
                url: u,
                secs: self.cfg.timeout_secs,
            };
        }
        // The innermost cause is the readable one ("Connection refused", "dns error ...").
        let mut reason = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = s.to_string();
            src = s.source();
        }
        if e.is_connect() {
            return FetchError::Connect {
                url: u,
                host: url.host_str().unwrap_or_default().to_string(),
                reason,
            };
        }
        if e.is_redirect() {
            return FetchError::Other {
                url: u,
                reason: format!("too many redirects ({reason})"),
            };
        }
        FetchError::Other { url: u, reason }
    }
}
