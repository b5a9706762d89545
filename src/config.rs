//! Configuration: `presswatch.toml`, validated, with `PRESSWATCH_*` environment overrides.
//!
//! Every error names the file and line (and the key), so a bad config is one line to fix.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use url::Url;

/// Default location of the config file, relative to the working directory.
pub const DEFAULT_PATH: &str = "config/presswatch.toml";

/// A configuration error: where it is and what is wrong, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    pub location: String,
    pub message: String,
}

impl ConfigError {
    fn at(path: &Path, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let location = match span {
            Some(span) => format!("{}:{}", path.display(), line_of(text, span.start)),
            None => path.display().to_string(),
        };
        ConfigError {
            location,
            message: message.into(),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The validated configuration the rest of the program uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file came from (for messages).
    pub path: PathBuf,
    pub database: PathBuf,
    pub schedule: String,
    pub alert_on_first_run: bool,
    pub fetch: FetchConfig,
    pub email: EmailConfig,
    pub web: WebConfig,
    pub revisit: RevisitConfig,
    pub sources: Vec<Source>,
}

/// `[revisit]`: how often a tracked statement is re-checked, by the age of its last news
/// (published, changed or first seen, whichever is latest).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevisitConfig {
    /// Statements with news within this many days are checked every cycle.
    pub fresh_days: u64,
    /// Statements with news within this many days are checked every `warm_hours`.
    pub warm_days: u64,
    pub warm_hours: u64,
    /// Older statements are checked every `cold_hours`.
    pub cold_hours: u64,
}

impl Default for RevisitConfig {
    fn default() -> Self {
        RevisitConfig {
            fresh_days: 7,
            warm_days: 90,
            warm_hours: 24,
            cold_hours: 24 * 7,
        }
    }
}

impl RevisitConfig {
    /// The interval after which a statement whose last news is `age` old is due again
    /// (zero: every cycle).
    pub fn interval(&self, age: chrono::Duration) -> chrono::Duration {
        let days = age.num_days().max(0) as u64;
        if days < self.fresh_days {
            chrono::Duration::zero()
        } else if days < self.warm_days {
            chrono::Duration::hours(self.warm_hours as i64)
        } else {
            chrono::Duration::hours(self.cold_hours as i64)
        }
    }
}

/// `[web]`: the read-only change log over HTTP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// `host:port` to listen on, e.g. "127.0.0.1:8080"; unset: no web server.
    pub listen: Option<String>,
    /// Public URL of the web change log, used for links in alerts.
    pub base_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    pub user_agent: String,
    pub timeout_secs: u64,
    pub max_bytes: u64,
    pub concurrency: usize,
    pub per_host_interval_ms: u64,
    /// Obey robots.txt (only turn off for sites you own).
    pub respect_robots: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            user_agent: format!(
                "presswatch/{} (+https://github.com/presswatch/presswatch)",
                env!("CARGO_PKG_VERSION")
            ),
            timeout_secs: 30,
            max_bytes: 10_000_000,
            concurrency: 4,
            per_host_interval_ms: 1000,
            respect_robots: true,
        }
    }
}

impl FetchConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
    pub fn per_host_interval(&self) -> Duration {
        Duration::from_millis(self.per_host_interval_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub to: Vec<String>,
    pub from: String,
    /// lettre SMTP URL; `None` writes `.eml` files under `<state>/outbox/`.
    pub smtp: Option<String>,
    /// Default batching for every source: "off" (one mail per change), "cycle", "daily HH:MM".
    pub digest: String,
    /// First retry delay after a failed delivery, doubling each time up to an hour.
    pub retry_secs: u64,
    /// A permanent (5xx) refusal this many times marks the alert failed.
    pub max_attempts: u32,
    /// Extra root certificate(s) (PEM) trusted for the SMTP server, besides the public roots:
    /// for a private or corporate mail server with its own CA.
    pub ca_file: Option<PathBuf>,
}

/// How alerts of a source are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// One mail per change.
    Off,
    /// One mail per cycle listing every change.
    Cycle,
    /// One mail a day at this UTC time.
    Daily { hour: u32, minute: u32 },
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, String> {
        let s = s.trim();
        match s {
            "off" | "" => Ok(Digest::Off),
            "cycle" => Ok(Digest::Cycle),
            _ => {
                let time = s
                    .strip_prefix("daily")
                    .map(str::trim)
                    .ok_or_else(|| format!("{s:?} is not \"off\", \"cycle\" or \"daily HH:MM\""))?;
                let t = chrono::NaiveTime::parse_from_str(time, "%H:%M")
                    .map_err(|_| format!("{s:?}: expected \"daily HH:MM\" (24-hour, UTC)"))?;
                use chrono::Timelike;
                Ok(Digest::Daily {
                    hour: t.hour(),
                    minute: t.minute(),
                })
            }
        }
    }

    /// Stored with each outbox row.
    pub fn as_key(self) -> Option<String> {
        match self {
            Digest::Off => None,
            Digest::Cycle => Some("cycle".into()),
            Digest::Daily { hour, minute } => Some(format!("daily {hour:02}:{minute:02}")),
        }
    }
}

/// Which change kinds a source alerts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyKinds {
    pub new: bool,
    pub changed: bool,
    pub removed: bool,
}

impl Default for NotifyKinds {
    fn default() -> Self {
        NotifyKinds {
            new: true,
            changed: true,
            removed: true,
        }
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            to: Vec::new(),
            from: "presswatch <presswatch@localhost>".to_string(),
            smtp: None,
            digest: "off".to_string(),
            retry_secs: 30,
            max_attempts: 3,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Page,
    Listing,
    Feed,
    Sitemap,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Page => "page",
            SourceKind::Listing => "listing",
            SourceKind::Feed => "feed",
            SourceKind::Sitemap => "sitemap",
        }
    }
}

/// One watched source, validated.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    pub url: Url,
    /// Statement URLs must match this (listing, feed, sitemap).
    pub matcher: Option<Regex>,
    /// Listing only: CSS selector of statement links.
    pub links: String,
    /// Listing only: CSS selector of the next-page link, followed up to `max_pages`.
    pub next: Option<String>,
    pub max_pages: usize,
    /// Other hosts statement links may point to (besides the source URL's host).
    pub hosts: Vec<String>,
    /// Feed only: `false` keeps the statement as the feed gives it (title + summary) and never
    /// fetches the page (for sites whose robots.txt forbids fetching story pages).
    pub fetch_pages: bool,
    /// Optional CSS selector that overrides extraction.
    pub body: Option<String>,
    /// Optional site profile to use whatever the host (e.g. "iom" for a mirror of an IOM site).
    pub profile: Option<String>,
    /// Alert recipients (the source's `to`, else `[email] to`).
    pub to: Vec<String>,
    /// Lines (paragraphs) matching any of these are left out of comparison.
    pub ignore: Vec<Regex>,
    /// Edits of fewer words are stored as versions but not alerted.
    pub min_change_words: usize,
    pub notify: NotifyKinds,
    pub digest: Digest,
}

impl Source {
    /// Does a discovered URL belong to this source? Same host as the source URL, and `match`.
    pub fn accepts(&self, url: &Url) -> bool {
        let host_ok = url.host_str() == self.url.host_str()
            || url
                .host_str()
                .is_some_and(|h| self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h)));
        if !matches!(url.scheme(), "http" | "https") || !host_ok {
            return false;
        }
        self.matcher
            .as_ref()
            .is_none_or(|re| re.is_match(url.as_str()))
    }
}

// ---- the file as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_database")]
    database: PathBuf,
    #[serde(default = "default_schedule")]
    schedule: Spanned<String>,
    #[serde(default)]
    alert_on_first_run: bool,
    #[serde(default)]
    fetch: FetchConfig,
    #[serde(default = "default_email")]
    email: Spanned<EmailConfig>,
    #[serde(default)]
    web: WebConfig,
    #[serde(default)]
    revisit: RevisitConfig,
    #[serde(default)]
    sources: Vec<Spanned<RawSource>>,
}

fn default_database() -> PathBuf {
    PathBuf::from("state/presswatch.db")
}

fn default_email() -> Spanned<EmailConfig> {
    Spanned::new(0..0, EmailConfig::default())
}

fn default_schedule() -> Spanned<String> {
    Spanned::new(0..0, "0 */30 * * * *".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    kind: SourceKind,
    url: Spanned<String>,
    #[serde(rename = "match")]
    matcher: Option<Spanned<String>>,
    links: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    max_pages: Option<Spanned<usize>>,
    #[serde(default)]
    hosts: Vec<String>,
    fetch_pages: Option<Spanned<bool>>,
    body: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    to: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    #[serde(default)]
    min_change_words: usize,
    notify: Option<Spanned<Vec<String>>>,
    digest: Option<Spanned<String>>,
}

/// Load, override from the environment, and validate.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        location: path.display().to_string(),
        message: format!("cannot read config: {e}"),
    })?;
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PRESSWATCH_"))
        .collect();
    parse(path, &text, &env)
}

/// Parse config text (with the given `PRESSWATCH_*` variables) into a validated [`Config`].
pub fn parse(
    path: &Path,
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', " ");
        ConfigError::at(path, text, e.span(), message)
    })?;
    let err = |span: Range<usize>, msg: String| ConfigError::at(path, text, Some(span), msg);

    let mut cfg = Config {
        path: path.to_path_buf(),
        database: raw.database,
        schedule: raw.schedule.get_ref().clone(),
        alert_on_first_run: raw.alert_on_first_run,
        fetch: raw.fetch,
        email: raw.email.get_ref().clone(),
        web: raw.web,
        revisit: raw.revisit,
        sources: Vec::new(),
    };
    apply_env(&mut cfg, env)?;

    // A value that came from the environment is reported as such, not as a file line.
    let fail = |name: &str, span: Range<usize>, message: String| -> ConfigError {
        if env.contains_key(name) {
            ConfigError {
                location: format!("environment variable {name}"),
                message,
            }
        } else {
            err(span, message)
        }
    };

    if let Err(e) = validate_cron(&cfg.schedule) {
        return Err(fail(
            "PRESSWATCH_SCHEDULE",
            raw.schedule.span(),
            format!(
                "schedule: invalid cron expression {:?} ({e}); expected six fields with seconds, e.g. \"0 */30 * * * *\"",
                cfg.schedule
            ),
        ));
    }
    if cfg.fetch.concurrency == 0 {
        return Err(fail(
            "PRESSWATCH_FETCH_CONCURRENCY",
            key_span(text, "concurrency"),
            "fetch.concurrency: must be at least 1".into(),
        ));
    }
    if cfg.fetch.timeout_secs == 0 {
        return Err(fail(
            "PRESSWATCH_FETCH_TIMEOUT_SECS",
            key_span(text, "timeout_secs"),
            "fetch.timeout_secs: must be at least 1".into(),
        ));
    }
    if cfg.fetch.max_bytes < 1024 {
        return Err(fail(
            "PRESSWATCH_FETCH_MAX_BYTES",
            key_span(text, "max_bytes"),
            "fetch.max_bytes: must be at least 1024".into(),
        ));
    }
    let email_span = raw.email.span();
    for addr in &cfg.email.to {
        if addr.parse::<lettre::message::Mailbox>().is_err() {
            return Err(fail(
                "PRESSWATCH_EMAIL_TO",
                email_span.clone(),
                format!("email.to: invalid address {addr:?}"),
            ));
        }
    }
    if cfg.email.from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(fail(
            "PRESSWATCH_EMAIL_FROM",
            email_span.clone(),
            format!("email.from: invalid address {:?}", cfg.email.from),
        ));
    }
    if let Some(smtp) = &cfg.email.smtp {
        let ok = Url::parse(smtp)
            .is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some());
        if !ok {
            return Err(fail(
                "PRESSWATCH_EMAIL_SMTP",
                email_span,
                format!("email.smtp: {smtp:?} is not an smtp:// or smtps:// URL with a host"),
            ));
        }
    }

    if let Some(ca_file) = &cfg.email.ca_file {
        crate::notify::read_ca_file(ca_file).map_err(|e| {
            fail(
                "PRESSWATCH_EMAIL_CA_FILE",
                key_span(text, "ca_file"),
                format!("email.ca_file: {e}"),
            )
        })?;
    }

    if let Some(listen) = &cfg.web.listen
        && listen.parse::<std::net::SocketAddr>().is_err()
    {
        return Err(fail(
            "PRESSWATCH_WEB_LISTEN",
            key_span(text, "listen"),
            format!("web.listen: {listen:?} is not host:port, e.g. \"127.0.0.1:8080\""),
        ));
    }
    if let Some(base) = &cfg.web.base_url
        && Url::parse(base).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
    {
        return Err(fail(
            "PRESSWATCH_WEB_BASE_URL",
            key_span(text, "base_url"),
            format!("web.base_url: {base:?} is not an http(s) URL"),
        ));
    }

    let default_digest = Digest::parse(&cfg.email.digest).map_err(|e| {
        fail(
            "PRESSWATCH_EMAIL_DIGEST",
            key_span(text, "digest"),
            format!("email.digest: {e}"),
        )
    })?;

    for src in &raw.sources {
        let s = src.get_ref();
        let name = s.name.get_ref().trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                s.name.span(),
                format!("sources.name: {name:?} must be non-empty letters, digits, '-' or '_'"),
            ));
        }
        if cfg.sources.iter().any(|o: &Source| o.name == name) {
            return Err(err(
                s.name.span(),
                format!("sources.name: duplicate source name {name:?}"),
            ));
        }
        let url = Url::parse(s.url.get_ref())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                err(
                    s.url.span(),
                    format!(
                        "sources.url: {:?} is not an http(s) URL (source {name})",
                        s.url.get_ref()
                    ),
                )
            })?;
        // A regex error's last line says what is wrong ("unclosed group").
        let regex = |key: &str, r: &Spanned<String>| {
            Regex::new(r.get_ref()).map_err(|e| {
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                err(
                    r.span(),
                    format!(
                        "sources.{key}: invalid regex {:?}: {why} (source {name})",
                        r.get_ref()
                    ),
                )
            })
        };
        let matcher = s.matcher.as_ref().map(|m| regex("match", m)).transpose()?;
        let links = match &s.links {
            Some(l) => {
                check_selector(l.get_ref())
                    .map_err(|e| err(l.span(), format!("sources.links: {e} (source {name})")))?;
                if s.kind != SourceKind::Listing {
                    return Err(err(
                        l.span(),
                        format!("sources.links: only valid for kind = \"listing\" (source {name})"),
                    ));
                }
                l.get_ref().clone()
            }
            None => "a[href]".to_string(),
        };
        let next = match &s.next {
            Some(n) => {
                check_selector(n.get_ref())
                    .map_err(|e| err(n.span(), format!("sources.next: {e} (source {name})")))?;
                if s.kind != SourceKind::Listing {
                    return Err(err(
                        n.span(),
                        format!("sources.next: only valid for kind = \"listing\" (source {name})"),
                    ));
                }
                Some(n.get_ref().clone())
            }
            None => None,
        };
        let max_pages = match &s.max_pages {
            Some(m) if *m.get_ref() == 0 || *m.get_ref() > 1000 => {
                return Err(err(
                    m.span(),
                    format!("sources.max_pages: must be 1 to 1000 (source {name})"),
                ));
            }
            Some(m) => *m.get_ref(),
            None if next.is_some() => 10,
            None => 1,
        };
        let fetch_pages = match &s.fetch_pages {
            Some(f) if !*f.get_ref() && s.kind != SourceKind::Feed => {
                return Err(err(
                    f.span(),
                    format!(
                        "sources.fetch_pages: false is only valid for kind = \"feed\" (source {name})"
                    ),
                ));
            }
            Some(f) => *f.get_ref(),
            None => true,
        };
        let body = match &s.body {
            Some(b) => {
                check_selector(b.get_ref())
                    .map_err(|e| err(b.span(), format!("sources.body: {e} (source {name})")))?;
                Some(b.get_ref().clone())
            }
            None => None,
        };
        let profile = match &s.profile {
            Some(p) => {
                let known: Vec<&str> = crate::extract::profiles::PROFILES
                    .iter()
                    .map(|p| p.name)
                    .collect();
                if !known.contains(&p.get_ref().as_str()) {
                    return Err(err(
                        p.span(),
                        format!(
                            "sources.profile: unknown profile {:?} (source {name}); known: {}",
                            p.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
                Some(p.get_ref().clone())
            }
            None => None,
        };
        let to = match &s.to {
            Some(list) => {
                for addr in list.get_ref() {
                    if addr.parse::<lettre::message::Mailbox>().is_err() {
                        return Err(err(
                            list.span(),
                            format!("sources.to: invalid address {addr:?} (source {name})"),
                        ));
                    }
                }
                list.get_ref().clone()
            }
            None => cfg.email.to.clone(),
        };
        let ignore = s
            .ignore
            .iter()
            .map(|r| regex("ignore", r))
            .collect::<Result<Vec<_>, _>>()?;
        let notify = match &s.notify {
            Some(list) => {
                let mut n = NotifyKinds {
                    new: false,
                    changed: false,
                    removed: false,
                };
                for k in list.get_ref() {
                    match k.as_str() {
                        "new" => n.new = true,
                        "changed" => n.changed = true,
                        "removed" => n.removed = true,
                        other => {
                            return Err(err(
                                list.span(),
                                format!(
                                    "sources.notify: unknown kind {other:?} (source {name}); expected \"new\", \"changed\", \"removed\""
                                ),
                            ));
                        }
                    }
                }
                n
            }
            None => NotifyKinds::default(),
        };
        let digest = match &s.digest {
            Some(d) => Digest::parse(d.get_ref())
                .map_err(|e| err(d.span(), format!("sources.digest: {e} (source {name})")))?,
            None => default_digest,
        };
        cfg.sources.push(Source {
            name,
            kind: s.kind,
            url,
            matcher,
            links,
            next,
            max_pages,
            hosts: s
                .hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            fetch_pages,
            body,
            profile,
            to,
            ignore,
            min_change_words: s.min_change_words,
            notify,
            digest,
        });
    }
    Ok(cfg)
}

/// Where `key = ...` is first written (for values serde could not point at).
fn key_span(text: &str, key: &str) -> Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return offset..offset;
        }
        offset += line.len();
    }
    0..0
}

fn check_selector(sel: &str) -> Result<(), String> {
    scraper::Selector::parse(sel)
        .map(|_| ())
        .map_err(|e| format!("invalid CSS selector {sel:?}: {e}"))
}

fn validate_cron(expr: &str) -> Result<(), String> {
    // tokio-cron-scheduler parses with croner; the same parser validates here.
    tokio_cron_scheduler::Job::new_async(expr, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Apply `PRESSWATCH_<SECTION>_<KEY>` (and `PRESSWATCH_<KEY>` for top-level keys).
fn apply_env(cfg: &mut Config, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    fn parse_val<T: FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        value.trim().parse::<T>().map_err(|e| ConfigError {
            location: format!("environment variable {name}"),
            message: format!("invalid value {value:?}: {e}"),
        })
    }
    for (name, value) in env {
        match name.as_str() {
            // Not overrides: read elsewhere.
            "PRESSWATCH_CONFIG"
            | "PRESSWATCH_SMTP_USER"
            | "PRESSWATCH_SMTP_PASSWORD"
            | "PRESSWATCH_LOG" => {}
            "PRESSWATCH_DATABASE" => cfg.database = PathBuf::from(value),
            "PRESSWATCH_SCHEDULE" => cfg.schedule = value.clone(),
            "PRESSWATCH_ALERT_ON_FIRST_RUN" => cfg.alert_on_first_run = parse_val(name, value)?,
            "PRESSWATCH_FETCH_USER_AGENT" => cfg.fetch.user_agent = value.clone(),
            "PRESSWATCH_FETCH_TIMEOUT_SECS" => cfg.fetch.timeout_secs = parse_val(name, value)?,
            "PRESSWATCH_FETCH_MAX_BYTES" => cfg.fetch.max_bytes = parse_val(name, value)?,
            "PRESSWATCH_FETCH_CONCURRENCY" => cfg.fetch.concurrency = parse_val(name, value)?,
            "PRESSWATCH_FETCH_RESPECT_ROBOTS" => cfg.fetch.respect_robots = parse_val(name, value)?,
            "PRESSWATCH_FETCH_PER_HOST_INTERVAL_MS" => {
                cfg.fetch.per_host_interval_ms = parse_val(name, value)?
            }
            "PRESSWATCH_EMAIL_TO" => {
                cfg.email.to = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "PRESSWATCH_EMAIL_FROM" => cfg.email.from = value.clone(),
            "PRESSWATCH_EMAIL_DIGEST" => cfg.email.digest = value.clone(),
            "PRESSWATCH_EMAIL_RETRY_SECS" => cfg.email.retry_secs = parse_val(name, value)?,
            "PRESSWATCH_EMAIL_MAX_ATTEMPTS" => cfg.email.max_attempts = parse_val(name, value)?,
            "PRESSWATCH_WEB_LISTEN" => {
                cfg.web.listen = Some(value.clone()).filter(|v| !v.trim().is_empty())
            }
            "PRESSWATCH_WEB_BASE_URL" => {
                cfg.web.base_url = Some(value.clone()).filter(|v| !v.trim().is_empty())
            }
            "PRESSWATCH_EMAIL_SMTP" => {
                cfg.email.smtp = Some(value.clone()).filter(|v| !v.trim().is_empty())
            }
            "PRESSWATCH_EMAIL_CA_FILE" => {
                cfg.email.ca_file = Some(PathBuf::from(value)).filter(|_| !value.trim().is_empty())
            }
            other => {
                return Err(ConfigError {
                    location: format!("environment variable {other}"),
                    message: "unknown presswatch setting (expected PRESSWATCH_<SECTION>_<KEY>, e.g. PRESSWATCH_EMAIL_SMTP)".into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("t.toml"), text, &BTreeMap::new())
    }

    const GOOD: &str = r#"
database = "x.db"
[web]
listen = "127.0.0.1:8080"
[email]
to = ["a@example.org"]
[[sources]]
name = "iom"
kind = "feed"
url = "https://www.iom.int/news/rss.xml"
match = '^https://www\.iom\.int/news/'
"#;

    #[test]
    fn parses_good_config() {
        let c = p(GOOD).expect("valid");
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].kind, SourceKind::Feed);
        assert_eq!(c.fetch.concurrency, 4);
        assert!(c.sources[0].accepts(&Url::parse("https://www.iom.int/news/x").expect("url")));
        assert!(!c.sources[0].accepts(&Url::parse("https://evil.example/news/x").expect("url")));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = p("database = \"x\"\n\n[fetch]\ntimeout = 3\n").expect_err("unknown key");
        let s = e.to_string();
        assert!(s.starts_with("t.toml:4:"), "{s}");
        assert!(s.contains("timeout"), "{s}");
        assert!(!s.contains('\n'), "one line: {s}");
    }

    #[test]
    fn bad_values_name_line() {
        let e = p(&GOOD.replace(r"'^https://www\.iom\.int/news/'", "'(('")).expect_err("bad regex");
        assert!(e.to_string().starts_with("t.toml:11: sources.match"), "{e}");
        let e =
            p(&GOOD.replace("https://www.iom.int/news/rss.xml", "ftp://x")).expect_err("bad url");
        assert!(e.to_string().starts_with("t.toml:10: sources.url"), "{e}");
        let e = p(&GOOD.replace("kind = \"feed\"", "kind = \"rss\"")).expect_err("bad kind");
        assert!(e.to_string().starts_with("t.toml:9:"), "{e}");
        let e = p("schedule = \"every minute\"\n").expect_err("bad cron");
        assert!(e.to_string().starts_with("t.toml:1: schedule"), "{e}");
    }

    #[test]
    fn alerting_options() {
        let text = format!(
            "{GOOD}to = [\"b@example.org\"]\nignore = ['^Last updated']\nmin_change_words = 3\nnotify = [\"new\", \"removed\"]\ndigest = \"daily 07:30\"\n"
        );
        let c = p(&text).expect("valid");
        let s = &c.sources[0];
        assert_eq!(s.to, vec!["b@example.org"]);
        assert!(s.ignore[0].is_match("Last updated 3 May"));
        assert_eq!(s.min_change_words, 3);
        assert!(s.notify.new && !s.notify.changed && s.notify.removed);
        assert_eq!(
            s.digest,
            Digest::Daily {
                hour: 7,
                minute: 30
            }
        );
        let c = p(GOOD).expect("valid");
        assert_eq!(c.sources[0].to, vec!["a@example.org"]);
        assert_eq!(c.sources[0].digest, Digest::Off);
        let e = p(&format!("{GOOD}digest = \"weekly\"\n")).expect_err("bad digest");
        assert!(
            e.to_string().starts_with("t.toml:12: sources.digest"),
            "{e}"
        );
        let e = p(&format!("{GOOD}notify = [\"moved\"]\n")).expect_err("bad kind");
        assert!(e.to_string().contains("sources.notify"), "{e}");
    }

    #[test]
    fn env_overrides() {
        let mut env = BTreeMap::new();
        env.insert(
            "PRESSWATCH_EMAIL_SMTP".to_string(),
            "smtp://127.0.0.1:2525".to_string(),
        );
        env.insert("PRESSWATCH_FETCH_CONCURRENCY".to_string(), "9".to_string());
        env.insert(
            "PRESSWATCH_EMAIL_TO".to_string(),
            "a@x.org, b@y.org".to_string(),
        );
        let c = parse(Path::new("t.toml"), GOOD, &env).expect("valid");
        assert_eq!(c.email.smtp.as_deref(), Some("smtp://127.0.0.1:2525"));
        assert_eq!(c.fetch.concurrency, 9);
        assert_eq!(c.email.to, vec!["a@x.org", "b@y.org"]);
        env.insert(
            "PRESSWATCH_FETCH_CONCURRENCY".to_string(),
            "lots".to_string(),
        );
        let e = parse(Path::new("t.toml"), GOOD, &env).expect_err("bad env");
        assert!(
            e.to_string().contains("PRESSWATCH_FETCH_CONCURRENCY"),
            "{e}"
        );
        env.remove("PRESSWATCH_FETCH_CONCURRENCY");
        env.insert("PRESSWATCH_NOPE".to_string(), "1".to_string());
        assert!(parse(Path::new("t.toml"), GOOD, &env).is_err());
    }

    #[test]
    fn ca_file_must_be_a_readable_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let with = |path: &Path| {
            GOOD.replace(
                "to = [\"a@example.org\"]\n",
                &format!(
                    "to = [\"a@example.org\"]\nca_file = {:?}\n",
                    path.display().to_string()
                ),
            )
        };
        let missing = dir.path().join("missing-ca.pem");
        let e = p(&with(&missing)).expect_err("missing ca_file");
        let s = e.to_string();
        assert!(s.starts_with("t.toml:7: email.ca_file:"), "{s}");
        assert!(s.contains("missing-ca.pem") && !s.contains('\n'), "{s}");

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").expect("write");
        let e = p(&with(&not_pem)).expect_err("not a certificate");
        assert!(e.to_string().contains("not.pem: no PEM certificate"), "{e}");

        let good = dir.path().join("ca.pem");
        let cert =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        std::fs::write(&good, cert.cert.pem()).expect("write");
        let c = p(&with(&good)).expect("valid");
        assert_eq!(c.email.ca_file.as_deref(), Some(good.as_path()));

        // From the environment, reported as such.
        let mut env = BTreeMap::new();
        env.insert(
            "PRESSWATCH_EMAIL_CA_FILE".to_string(),
            missing.display().to_string(),
        );
        let e = parse(Path::new("t.toml"), GOOD, &env).expect_err("missing ca_file");
        assert!(
            e.to_string()
                .starts_with("environment variable PRESSWATCH_EMAIL_CA_FILE: email.ca_file:"),
            "{e}"
        );
        env.insert(
            "PRESSWATCH_EMAIL_CA_FILE".to_string(),
            good.display().to_string(),
        );
        let c = parse(Path::new("t.toml"), GOOD, &env).expect("valid");
        assert_eq!(c.email.ca_file.as_deref(), Some(good.as_path()));
    }
}
