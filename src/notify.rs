//! Alerts: rendered from the store, delivered from the outbox.
//!
//! An alert row is written by [`crate::store::Store::commit_check`] in the same transaction as
//! its change. Delivery reads due rows, renders the mail from the stored versions (so a retry
//! renders the same mail with the same Message-ID), sends it, and records the outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailConfig;
use crate::diff;
use crate::store::{ChangeKind, ChangeRow, Store, StoreError, Version};

/// Subjects are cut to stay under this many characters.
const MAX_SUBJECT_CHARS: usize = 119;
/// A permanent (5xx) SMTP answer this many times marks the alert failed.
pub const MAX_PERMANENT_ATTEMPTS: i64 = 3;
/// Retry delays grow from this, doubling, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
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
            let value = if k == "URL" {
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
                    s.push_str(&format!("<p>{}</p>\n", e(p).replace('\n', "<br>")));
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
    pub fn from_config(email: &EmailConfig, state_dir: &Path) -> Result<Transport, NotifyError> {
        let Some(url) = &email.smtp else {
            return Ok(Transport::Files(state_dir.join("outbox")));
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| NotifyError::Config(format!("invalid smtp URL: {e}")))?;
        let host = format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed
                .port()
                .unwrap_or(if parsed.scheme() == "smtps" { 465 } else { 25 })
        );
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifyError::Config(format!("smtp {host}: {e}")))?
            .timeout(Some(Duration::from_secs(30)));
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

    async fn send(&self, msg: &Message, change_id: i64) -> Result<(), SendError> {
        match self {
            Transport::Smtp { host, mailer } => {
                mailer.send(msg.clone()).await.map(|_| ()).map_err(|e| {
                    let permanent = e.is_permanent();
                    SendError {
                        message: format!("SMTP {host}: {}", one_line(&e)),
                        permanent,
                    }
                })
            }
            Transport::Files(dir) => {
                // Named by change: writing the same alert twice replaces the file, never doubles it.
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(dir)?;
                    let tmp = dir.join(format!(".change-{change_id}.eml.tmp"));
                    std::fs::write(&tmp, msg.formatted())?;
                    std::fs::rename(&tmp, dir.join(format!("change-{change_id}.eml")))
                };
                write().map_err(|e| SendError {
                    message: format!("cannot write alert to {}: {e}", dir.display()),
                    permanent: false,
                })
            }
        }
    }
}

fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s.replace(['\r', '\n'], " ")
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

fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 16) as u32;
    FIRST_BACKOFF
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
) -> Result<DeliveryReport, NotifyError> {
    let mut report = DeliveryReport::default();
    let now = chrono::Utc::now();
    let due = store.due_alerts(&crate::util::rfc3339(now))?;
    if due.is_empty() {
        return Ok(report);
    }
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| NotifyError::Config(format!("email.from {:?}: {e}", email.from)))?;
    for row in due {
        let at = crate::util::now_rfc3339();
        let Some(alert) = Alert::load(store, row.change_id)? else {
            store.mark_attempt_failed(row.id, "the change no longer exists", None)?;
            report.failed += 1;
            continue;
        };
        let to: Vec<Mailbox> = row
            .recipients
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        if to.is_empty() {
            store.mark_attempt_failed(row.id, "no valid recipient", None)?;
            report.failed += 1;
            continue;
        }
        let msg = match alert.message(&from, &to, &row.message_id) {
            Ok(m) => m,
            Err(e) => {
                store.mark_attempt_failed(row.id, &e, None)?;
                report.errors.push(e);
                report.failed += 1;
                continue;
            }
        };
        match transport.send(&msg, row.change_id).await {
            Ok(()) => {
                store.mark_sent(row.id, &at)?;
                report.sent += 1;
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                let give_up = e.permanent && attempts >= MAX_PERMANENT_ATTEMPTS;
                let next = (!give_up)
                    .then(|| crate::util::rfc3339(chrono::Utc::now() + backoff(row.attempts)));
                store.mark_attempt_failed(row.id, &e.message, next.as_deref())?;
                if give_up {
                    report.failed += 1;
                } else {
                    report.retrying += 1;
                }
                let stop = !e.permanent;
                report.errors.push(format!(
                    "alert {} ({}): {}",
                    row.id, alert.change.url, e.message
                ));
                if stop {
                    break;
                }
            }
        }
    }
    Ok(report)
}
