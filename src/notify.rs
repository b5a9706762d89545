//! Alerts: rendered from the store, delivered from the outbox.
//!
//! An alert row is written by [`crate::store::Store::commit_check`] in the same transaction as
//! its change. Delivery reads due rows, renders the mail from the stored versions (so a retry
//! renders the same mail with the same Message-ID), sends it, and records the outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailConfig;
use crate::diff;
use crate::store::{ChangeKind, ChangeRow, OutboxRow, Store, StoreError, Version};

/// Subjects are cut to stay under this many characters.
const MAX_SUBJECT_CHARS: usize = 119;
/// Retry delays double from `[email] retry_secs` up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("email: {0}")]
    Config(String),
}

/// Everything an alert mail says, read from the store.
#[derive(Debug, Clone)]
pub struct Alert {
    pub change: ChangeRow,
    pub old: Option<Version>,
    pub new: Option<Version>,
    pub diff: Option<diff::Diff>,
    /// The page's history in the web change log, when `web.base_url` is set.
    pub history_url: Option<String>,
}

impl Alert {
    /// Load the change and the versions it refers to.
    pub fn load(store: &Store, change_id: i64) -> Result<Option<Alert>, StoreError> {
        let Some(change) = store.change(change_id)? else {
            return Ok(None);
        };
        let old = match change.from_version {
            Some(n) => store.version(change.page_id, Some(n))?,
            None => None,
        };
        let new = match change.to_version {
            Some(n) => store.version(change.page_id, Some(n))?,
            None => None,
        };
        let diff = match (&old, &new) {
            (Some(o), Some(n)) if change.kind == ChangeKind::Changed => Some(diff::diff(
                &crate::util::statement_text(&o.title, &o.body),
                &crate::util::statement_text(&n.title, &n.body),
                1,
            )),
            _ => None,
        };
        Ok(Some(Alert {
            change,
            old,
            new,
            diff,
            history_url: None,
        }))
    }

    fn title(&self) -> &str {
        let t = self
            .new
            .as_ref()
            .or(self.old.as_ref())
            .map(|v| v.title.as_str())
            .unwrap_or(self.change.title.as_str());
        if t.is_empty() {
            self.change.url.as_str()
        } else {
            t
        }
    }

    /// `[presswatch] Changed: TITLE`, cut to under 120 characters.
    pub fn subject(&self) -> String {
        let label = match self.change.kind {
            ChangeKind::New => "New",
            ChangeKind::Changed => "Changed",
            ChangeKind::Removed => "Removed",
        };
        let s = format!(
            "[presswatch] {label}: {}",
            self.title()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        if s.chars().count() <= MAX_SUBJECT_CHARS {
            return s;
        }
        let mut cut: String = s.chars().take(MAX_SUBJECT_CHARS - 1).collect();
        cut.push('…');
        cut
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let c = &self.change;
        let mut f = vec![("URL", c.url.clone()), ("Source", c.source.clone())];
        if let Some(p) = self
            .new
            .as_ref()
            .or(self.old.as_ref())
            .and_then(|v| v.published.clone())
        {
            f.push(("Published", p));
        }
        if let Some(o) = &self.old {
            f.push((
                "Previous version",
                format!("{} (fetched {})", o.version, o.fetched_at),
            ));
        }
        f.push(("Detected", c.detected_at.clone()));
        match c.kind {
            ChangeKind::Changed => f.push((
                "Change",
                format!(
                    "+{} / \u{2212}{} words (version {} \u{2192} {})",
                    c.words_added,
                    c.words_removed,
                    c.from_version.unwrap_or(0),
                    c.to_version.unwrap_or(0)
                ),
            )),
            ChangeKind::New => f.push(("Version", c.to_version.unwrap_or(1).to_string())),
            ChangeKind::Removed => f.push((
                "Status",
                "the page answered 404/410 on two consecutive checks".into(),
            )),
        }
        if let Some(h) = &self.history_url {
            f.push(("History", h.clone()));
        }
        f
    }

    /// The opening paragraphs of a new statement (about 120 words).
    fn opening(&self) -> String {
        let Some(v) = &self.new else {
            return String::new();
        };
        let mut out = Vec::new();
        let mut words = 0;
        for p in v.body.split("\n\n") {
            out.push(p);
            words += crate::util::word_count(p);
            if words >= 120 || out.len() >= 4 {
                break;
            }
        }
        out.join("\n\n")
    }

    pub fn text_body(&self) -> String {
        let mut s = String::new();
        s.push_str(self.subject().trim_start_matches("[presswatch] "));
        s.push_str("\n\n");
        for (k, v) in self.facts() {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push('\n');
        match self.change.kind {
            ChangeKind::Changed => {
                if let Some(d) = &self.diff {
                    s.push_str("What changed ([-removed-] {+added+}):\n\n");
                    s.push_str(&diff::render_text(d));
                    s.push('\n');
                }
            }
            ChangeKind::New => {
                s.push_str(&self.opening());
                s.push('\n');
            }
            ChangeKind::Removed => {
                s.push_str(&format!("Last known title: {}\n", self.title()));
            }
        }
        s.push_str(&format!(
            "\n-- \npresswatch: `presswatch show {}` prints the stored text.\n",
            self.change.url
        ));
        s
    }

    pub fn html_body(&self) -> String {
        let e = |t: &str| html_escape::encode_text(t).into_owned();
        let mut s = String::from(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
             <body style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1a1a1a;max-width:720px;\">\n",
        );
        let label = self.subject();
        s.push_str(&format!(
            "<h2 style=\"font-size:18px;margin:0 0 12px 0;\">{}</h2>\n",
            e(label.trim_start_matches("[presswatch] "))
        ));
        s.push_str(
            "<table style=\"border-collapse:collapse;font-size:14px;margin-bottom:16px;\">\n",
        );
        for (k, v) in self.facts() {
            let value = if k == "URL" || k == "History" {
                format!(
                    "<a href=\"{}\" style=\"color:#0b57d0;\">{}</a>",
                    html_escape::encode_double_quoted_attribute(&v),
                    e(&v)
                )
            } else {
                e(&v)
            };
            s.push_str(&format!(
                "<tr><td style=\"padding:2px 12px 2px 0;color:#555555;vertical-align:top;\">{}</td><td style=\"padding:2px 0;\">{value}</td></tr>\n",
                e(k)
            ));
        }
        s.push_str("</table>\n");
        match self.change.kind {
            ChangeKind::Changed => {
                if let Some(d) = &self.diff {
                    s.push_str(
                        "<div style=\"border-left:3px solid #cccccc;padding-left:12px;\">\n",
                    );
                    s.push_str(&diff::render_html(d));
                    s.push_str("</div>\n");
                }
            }
            ChangeKind::New => {
                for p in self.opening().split("\n\n") {
                    s.push_str(&format!(
                        "<p dir=\"auto\">{}</p>\n",
                        e(p).replace('\n', "<br>")
                    ));
                }
            }
            ChangeKind::Removed => {
                s.push_str(&format!(
                    "<p>Last known title: <strong>{}</strong></p>\n",
                    e(self.title())
                ));
            }
        }
        s.push_str("<p style=\"color:#888888;font-size:12px;margin-top:24px;\">Sent by presswatch.</p>\n</body></html>\n");
        s
    }

    /// The complete mail.
    pub fn message(
        &self,
        from: &Mailbox,
        to: &[Mailbox],
        message_id: &str,
    ) -> Result<Message, String> {
        let mut b = Message::builder()
            .from(from.clone())
            .subject(self.subject())
            .message_id(Some(message_id.to_string()));
        for m in to {
            b = b.to(m.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(
            self.text_body(),
            self.html_body(),
        ))
        .map_err(|e| format!("cannot build mail: {e}"))
    }
}

/// Where alerts go.
pub enum Transport {
    Smtp {
        /// `host:port`, for messages (never the credentials).
        host: String,
        mailer: AsyncSmtpTransport<Tokio1Executor>,
    },
    /// No SMTP configured: `.eml` files in this directory.
    Files(PathBuf),
}

impl Transport {
    /// From the `[email]` config; credentials from the URL or `PRESSWATCH_SMTP_USER` /
    /// `PRESSWATCH_SMTP_PASSWORD`.
    ///
    /// The URL says how TLS is used (lettre's `from_url`): `smtps://` is TLS from the first byte,
    /// `smtp://...?tls=required` must upgrade with STARTTLS, plain `smtp://` sends in the clear.
    /// With `[email] ca_file`, the certificates in it are trusted too (besides the public roots),
    /// and a plain `smtp://` upgrades with STARTTLS when the server offers it.
    pub fn from_config(email: &EmailConfig, state_dir: &Path) -> Result<Transport, NotifyError> {
        let Some(url) = &email.smtp else {
            return Ok(Transport::Files(state_dir.join("outbox")));
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| NotifyError::Config(format!("invalid smtp URL: {e}")))?;
        let tls_mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let domain = parsed.host_str().unwrap_or_default().to_string();
        // The default ports lettre uses for each mode.
        let default_port = match (parsed.scheme(), tls_mode.as_deref()) {
            ("smtps", _) => 465,
            (_, Some(_)) => 587,
            _ => 25,
        };
        let host = format!("{domain}:{}", parsed.port().unwrap_or(default_port));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifyError::Config(format!("smtp {host}: {e}")))?
            .timeout(Some(Duration::from_secs(30)));
        if let Some(ca_file) = &email.ca_file {
            let cert =
                read_ca_file(ca_file).map_err(|e| NotifyError::Config(format!("ca_file {e}")))?;
            let params = TlsParameters::builder(domain)
                .add_root_certificate(cert)
                .build()
                .map_err(|e| {
                    NotifyError::Config(format!(
                        "ca_file {}: not usable: {}",
                        ca_file.display(),
                        one_line(&e)
                    ))
                })?;
            builder = builder.tls(match (parsed.scheme(), tls_mode.as_deref()) {
                ("smtps", _) => Tls::Wrapper(params),
                (_, Some("required")) => Tls::Required(params),
                _ => Tls::Opportunistic(params),
            });
        }
        let user = std::env::var("PRESSWATCH_SMTP_USER")
            .ok()
            .or_else(|| Some(parsed.username().to_string()).filter(|u| !u.is_empty()));
        if let Some(user) = user {
            let password = std::env::var("PRESSWATCH_SMTP_PASSWORD")
                .ok()
                .or_else(|| parsed.password().map(str::to_string))
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Transport::Smtp {
            host,
            mailer: builder.build(),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { host, .. } => format!("SMTP {host}"),
            Transport::Files(dir) => format!("files in {}", dir.display()),
        }
    }

    /// Send one mail; `key` names the `.eml` file (the same key replaces, never doubles).
    async fn send(&self, msg: &Message, key: &str) -> Result<(), SendError> {
        match self {
            Transport::Smtp { host, mailer } => {
                mailer
                    .send(msg.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError {
                        message: format!("SMTP {host}: {}", describe_smtp_error(&e)),
                        permanent: e.is_permanent(),
                    })
            }
            Transport::Files(dir) => {
                // Named by change: writing the same alert twice replaces the file, never doubles it.
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(dir)?;
                    let tmp = dir.join(format!(".{key}.eml.tmp"));
                    std::fs::write(&tmp, msg.formatted())?;
                    std::fs::rename(&tmp, dir.join(format!("{key}.eml")))
                };
                write().map_err(|e| SendError {
                    message: format!("cannot write alert to {}: {e}", dir.display()),
                    permanent: false,
                })
            }
        }
    }
}

/// The root certificate(s) of `[email] ca_file`: PEM, at least one certificate, each usable as
/// a trust anchor. The error names the file, on one line.
pub fn read_ca_file(path: &Path) -> Result<Certificate, String> {
    let name = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{name}: cannot read it: {e}"))?;
    if memchr::memmem::find(&pem, b"-----BEGIN CERTIFICATE-----").is_none() {
        return Err(format!(
            "{name}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)"
        ));
    }
    let cert = Certificate::from_pem(&pem)
        .map_err(|e| format!("{name}: invalid PEM certificate: {}", one_line(&e)))?;
    // Adding it to a root store parses each certificate: a garbled one fails here, not at send.
    TlsParameters::builder("localhost".into())
        .add_root_certificate(cert.clone())
        .build()
        .map_err(|e| format!("{name}: invalid certificate: {}", one_line(&e)))?;
    Ok(cert)
}

fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        // lettre's connection errors repeat their own kind in the source's text
        // ("Connection error: Connection error: ..."); keep the kind once.
        let kind = s.split_once(": ").map_or(s.as_str(), |(kind, _)| kind);
        let t = text.strip_prefix(&format!("{kind}: ")).unwrap_or(&text);
        if !s.contains(t) {
            s = format!("{s}: {t}");
        }
        src = inner.source();
    }
    s.replace(['\r', '\n'], " ")
}

/// Whether a rustls error (a refused certificate, a failed handshake) sits anywhere in the
/// chain. lettre reports those as connection errors, not `is_tls()`.
fn tls_error_in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(inner) = src {
        if inner.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|i| i.is::<rustls::Error>())
        {
            return true;
        }
        src = inner.source();
    }
    false
}

struct SendError {
    message: String,
    permanent: bool,
}

/// What a delivery pass did.
#[derive(Debug, Default, Clone)]
pub struct DeliveryReport {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// One line per problem, naming the host or file.
    pub errors: Vec<String>,
}

fn backoff(first: Duration, attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 16) as u32;
    first
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

/// Deliver every alert that is due now.
///
/// Stops the pass at the first connection-level failure (the server is down; the rest wait
/// for the next pass instead of each timing out).
pub async fn deliver_due(
    store: &Store,
    email: &EmailConfig,
    transport: &Transport,
    web_base_url: Option<&str>,
) -> Result<DeliveryReport, NotifyError> {
    let mut report = DeliveryReport::default();
    let due = store.due_alerts(&crate::util::rfc3339(chrono::Utc::now()))?;
    if due.is_empty() {
        return Ok(report);
    }
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| NotifyError::Config(format!("email.from {:?}: {e}", email.from)))?;
    let instance = store.instance_id()?;

    // Batches: an alert of its own, or every due alert of one digest.
    let mut batches: Vec<(Option<String>, Vec<OutboxRow>)> = Vec::new();
    for row in due {
        let Some(rule) = row.digest.clone() else {
            batches.push((None, vec![row]));
            continue;
        };
        let key = row
            .digest_id
            .clone()
            .unwrap_or_else(|| format!("{rule}|{}", row.recipients.join(",")));
        match batches
            .iter_mut()
            .find(|(k, _)| k.as_deref() == Some(key.as_str()))
        {
            Some((_, rows)) => rows.push(row),
            None => batches.push((Some(key), vec![row])),
        }
    }

    for (key, rows) in batches {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let Some(first) = rows.first() else { continue };
        let to: Vec<Mailbox> = first
            .recipients
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        let mut alerts = Vec::new();
        for row in &rows {
            match Alert::load(store, row.change_id)? {
                Some(mut a) => {
                    a.history_url = web_base_url
                        .map(|b| format!("{}/pages/{}", b.trim_end_matches('/'), a.change.page_id));
                    alerts.push(a);
                }
                None => {
                    store.mark_attempt_failed(row.id, "the change no longer exists", None)?;
                    report.failed += 1;
                }
            }
        }
        if alerts.is_empty() {
            continue;
        }
        if to.is_empty() {
            for id in &ids {
                store.mark_attempt_failed(*id, "no valid recipient", None)?;
            }
            report.failed += ids.len();
            continue;
        }
        // The mail, its Message-ID and its file key; a digest's id is fixed before sending.
        let built = if key.is_none() {
            let a = &alerts[0];
            a.message(&from, &to, &first.message_id)
                .map(|m| (m, format!("change-{}", a.change.id)))
        } else {
            let digest_id = match &first.digest_id {
                Some(d) => d.clone(),
                None => {
                    let d = format!("digest-{}.{instance}", first.id);
                    store.assign_digest(&ids, &d)?;
                    d
                }
            };
            digest_message(&alerts, &from, &to, &format!("<{digest_id}@presswatch>"))
                .map(|m| (m, digest_id.clone()))
        };
        let (msg, file_key) = match built {
            Ok(b) => b,
            Err(e) => {
                for id in &ids {
                    store.mark_attempt_failed(*id, &e, None)?;
                }
                report.errors.push(e);
                report.failed += ids.len();
                continue;
            }
        };
        match transport.send(&msg, &file_key).await {
            Ok(()) => {
                let at = crate::util::now_rfc3339();
                for id in &ids {
                    store.mark_sent(*id, &at)?;
                }
                report.sent += 1;
            }
            Err(e) => {
                let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0);
                let give_up = e.permanent && attempts + 1 >= i64::from(email.max_attempts.max(1));
                let first_delay = Duration::from_secs(email.retry_secs);
                let next = (!give_up).then(|| {
                    crate::util::rfc3339(chrono::Utc::now() + backoff(first_delay, attempts))
                });
                for id in &ids {
                    store.mark_attempt_failed(*id, &e.message, next.as_deref())?;
                }
                if give_up {
                    report.failed += 1;
                } else {
                    report.retrying += 1;
                }
                report.errors.push(format!(
                    "alert {} ({}): {}",
                    first.id, alerts[0].change.url, e.message
                ));
                // A connection-level failure means the server is down: the rest wait.
                if !e.permanent {
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// One mail listing several changes, each with its own section.
pub fn digest_message(
    alerts: &[Alert],
    from: &Mailbox,
    to: &[Mailbox],
    message_id: &str,
) -> Result<Message, String> {
    let count = |k: ChangeKind| alerts.iter().filter(|a| a.change.kind == k).count();
    let mut parts = Vec::new();
    for (k, label) in [
        (ChangeKind::New, "new"),
        (ChangeKind::Changed, "changed"),
        (ChangeKind::Removed, "removed"),
    ] {
        let n = count(k);
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    let subject = format!(
        "[presswatch] Digest: {} change{} ({})",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    let mut text = format!("{}\n\n", subject.trim_start_matches("[presswatch] "));
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#1a1a1a;max-width:720px;\">\n",
    );
    html.push_str(&format!(
        "<h1 style=\"font-size:20px;\">{}</h1>\n",
        html_escape::encode_text(subject.trim_start_matches("[presswatch] "))
    ));
    for a in alerts {
        text.push_str("======================================================================\n");
        text.push_str(&a.text_body());
        text.push('\n');
        let body = a.html_body();
        // The section is the alert's own body, without its document wrapper.
        let inner = body
            .split_once("\">\n")
            .map(|(_, rest)| rest)
            .unwrap_or(&body)
            .trim_end_matches("</body></html>\n");
        html.push_str("<hr style=\"border:0;border-top:1px solid #dddddd;margin:24px 0;\">\n");
        html.push_str(inner);
    }
    html.push_str("</body></html>\n");
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject)
        .message_id(Some(message_id.to_string()));
    for m in to {
        b = b.to(m.clone());
    }
    b.multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build digest mail: {e}"))
}

/// A one-line, human reason for an SMTP failure: DNS, connection, TLS, auth, rejection.
fn describe_smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let detail = one_line(e);
    let lower = detail.to_lowercase();
    let code = e.status().map(|c| c.to_string());
    if e.is_tls() || tls_error_in_chain(e) {
        format!("TLS failed: {detail}")
    } else if e.is_timeout() {
        format!("timed out: {detail}")
    } else if lower.contains("lookup address")
        || lower.contains("name or service not known")
        || lower.contains("dns")
    {
        format!("DNS lookup failed: {detail}")
    } else if lower.contains("connection refused") {
        format!("connection refused: {detail}")
    } else if matches!(
        code.as_deref(),
        Some("535") | Some("534") | Some("530") | Some("538")
    ) {
        format!("authentication rejected: {detail}")
    } else if e.is_permanent() {
        format!("rejected (permanent): {detail}")
    } else if e.is_transient() {
        format!("temporarily refused: {detail}")
    } else {
        detail
    }
}

/// Send a test mail through the configured transport; one line saying what happened.
pub async fn send_test(email: &EmailConfig, transport: &Transport) -> Result<String, String> {
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| format!("email.from {:?}: {e}", email.from))?;
    let to: Vec<Mailbox> = email.to.iter().filter_map(|r| r.parse().ok()).collect();
    if to.is_empty() {
        return Err("email.to is empty: nobody to send the test mail to".into());
    }
    let mut b = Message::builder()
        .from(from)
        .subject("[presswatch] Test mail")
        .message_id(None);
    for m in &to {
        b = b.to(m.clone());
    }
    let text = format!(
        "This is a test mail from presswatch {}.\nIf you read this, alerts will reach you.\n",
        env!("CARGO_PKG_VERSION")
    );
    let html = format!(
        "<p>{}</p>",
        html_escape::encode_text(&text).replace('\n', "<br>")
    );
    let msg = b
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build the test mail: {e}"))?;
    let key = format!("test-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    transport.send(&msg, &key).await.map_err(|e| e.message)?;
    Ok(format!(
        "test mail sent to {} via {}",
        email.to.join(", "),
        transport.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: i64, title: &str, body: &str) -> Version {
        Version {
            page_id: 7,
            url: "https://www.iom.int/news/iom-lauds-adoption-global-compact-migration".into(),
            version: n,
            fetched_at: format!("2026-11-2{n}T10:00:00Z"),
            title: title.into(),
            published: Some("2018-12-10".into()),
            body: body.into(),
            text_hash: String::new(),
            extractor_version: 1,
            profile: "iom".into(),
        }
    }

    fn change(
        kind: ChangeKind,
        from: Option<i64>,
        to: Option<i64>,
        added: i64,
        removed: i64,
    ) -> ChangeRow {
        ChangeRow {
            id: 42,
            kind,
            url: "https://www.iom.int/news/iom-lauds-adoption-global-compact-migration".into(),
            title: "IOM Lauds Adoption of Global Compact for Migration".into(),
            source: "iom-news".into(),
            detected_at: "2026-11-23T10:30:00Z".into(),
            from_version: from,
            to_version: to,
            words_added: added,
            words_removed: removed,
            baseline: false,
            page_id: 7,
        }
    }

    const TITLE: &str = "IOM Lauds Adoption of Global Compact for Migration";
    const V1: &str = "Marrakesh, Morocco – On 10 December, the International Organization for Migration (IOM) hailed the adoption of the Global Compact.\n\n“Migration is the great issue of our era,” said IOM’s Director General.\n\nThere are nearly 260 million international migrants in the world.\n\nThe voluntary framework reinforces nation state sovereignty on migration.\n\nFor further information please contact IOM Spokesperson <ldoyle@iom.int>";

    fn alert(kind: ChangeKind) -> Alert {
        let v2 = V1.replace("260 million", "281 million");
        let (change, old, new) = match kind {
            ChangeKind::New => (
                change(kind, None, Some(1), 60, 0),
                None,
                Some(version(1, TITLE, V1)),
            ),
            ChangeKind::Changed => (
                change(kind, Some(1), Some(2), 1, 1),
                Some(version(1, TITLE, V1)),
                Some(version(2, TITLE, &v2)),
            ),
            ChangeKind::Removed => (
                change(kind, Some(2), None, 0, 60),
                Some(version(2, TITLE, &v2)),
                None,
            ),
        };
        let diff = match (&old, &new) {
            (Some(o), Some(n)) => Some(diff::diff(
                &crate::util::statement_text(&o.title, &o.body),
                &crate::util::statement_text(&n.title, &n.body),
                1,
            )),
            _ => None,
        };
        Alert {
            change,
            old,
            new,
            diff,
            history_url: Some("https://presswatch.example.org/pages/7".into()),
        }
    }

    #[test]
    fn snapshot_new() {
        let a = alert(ChangeKind::New);
        insta::assert_snapshot!("new_subject", a.subject());
        insta::assert_snapshot!("new_text", a.text_body());
        insta::assert_snapshot!("new_html", a.html_body());
    }

    #[test]
    fn snapshot_changed() {
        let a = alert(ChangeKind::Changed);
        insta::assert_snapshot!("changed_subject", a.subject());
        insta::assert_snapshot!("changed_text", a.text_body());
        insta::assert_snapshot!("changed_html", a.html_body());
    }

    #[test]
    fn snapshot_removed() {
        let a = alert(ChangeKind::Removed);
        insta::assert_snapshot!("removed_subject", a.subject());
        insta::assert_snapshot!("removed_text", a.text_body());
        insta::assert_snapshot!("removed_html", a.html_body());
    }

    #[test]
    fn page_text_is_escaped_and_subject_is_short() {
        let mut a = alert(ChangeKind::New);
        let long = format!(
            "<script>alert(1)</script> {}",
            "very long title ".repeat(20)
        );
        if let Some(v) = a.new.as_mut() {
            v.title = long.clone();
            v.body = "<b>bold</b> & <i>x</i>".into();
        }
        assert!(a.subject().chars().count() < 120, "{}", a.subject());
        let html = a.html_body();
        assert!(
            !html.contains("<script>") && !html.contains("<b>bold"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp;"), "{html}");
    }

    #[test]
    fn digest_lists_every_change() {
        let from: Mailbox = "presswatch <p@example.org>".parse().expect("from");
        let to: Vec<Mailbox> = vec!["a@example.org".parse().expect("to")];
        let alerts = [alert(ChangeKind::New), alert(ChangeKind::Changed)];
        let m = digest_message(&alerts, &from, &to, "<digest-1.x@presswatch>").expect("digest");
        let raw = String::from_utf8_lossy(&m.formatted()).into_owned();
        assert!(
            raw.contains("Digest: 2 changes (1 new, 1 changed)"),
            "{raw}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let first = Duration::from_secs(30);
        assert_eq!(backoff(first, 0), Duration::from_secs(30));
        assert_eq!(backoff(first, 3), Duration::from_secs(240));
        assert_eq!(backoff(first, 40), MAX_BACKOFF);
    }
}
