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
    pub body: Vec<u8>,
}

/// What a GET returned, for the cases that are not failures.
#[derive(Debug)]
pub enum Outcome {
    Ok(Fetched),
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
    #[error("GET {url}: body larger than {max} bytes, not read")]
    TooLarge { url: String, max: u64 },
    #[error("GET {url}: {reason}")]
    Other { url: String, reason: String },
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
            FetchError::Other { .. } => "other",
        }
    }
}

/// The shared, polite HTTP fetcher.
pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    global: Semaphore,
    hosts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

impl Fetcher {
    pub fn new(cfg: &FetchConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .timeout(cfg.timeout())
            .connect_timeout(cfg.timeout().min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .gzip(true)
            .brotli(true)
            .build()
            .map_err(|e| FetchError::Other {
                url: String::new(),
                reason: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            client,
            cfg: cfg.clone(),
            global: Semaphore::new(cfg.concurrency.max(1)),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// Wait until this host may be asked again, and reserve the slot.
    async fn wait_for_host(&self, url: &Url) {
        let interval = self.cfg.per_host_interval();
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

    /// GET a URL, politely, with conditional headers when given.
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Outcome, FetchError> {
        let _permit = self.global.acquire().await.map_err(|_| FetchError::Other {
            url: url.to_string(),
            reason: "fetcher is shutting down".into(),
        })?;
        self.wait_for_host(url).await;

        let mut headers = HeaderMap::new();
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
        let validators = Validators {
            etag: text_header(header::ETAG),
            last_modified: text_header(header::LAST_MODIFIED),
        };
        let max = self.cfg.max_bytes;
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                max,
            });
        }
        // Read the (decoded) body chunk by chunk, so a huge or endless body stops at the cap.
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
        Ok(Outcome::Ok(Fetched {
            final_url,
            status: status.as_u16(),
            content_type,
            validators,
            body,
        }))
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
