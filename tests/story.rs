//! The whole story, end to end, through the real binary, a real HTTP server and a real SMTP
//! server on 127.0.0.1: baseline (no mail) → a new statement (one `New:` mail) → its text is
//! edited (one `Changed:` mail showing the edited words) → it is deleted (one `Removed:` mail
//! after two checks) → `log --json` lists exactly those three changes.

mod common;

use std::time::Duration;

use common::http::{FixtureSite, Response};
use common::smtp::SmtpServer;
use common::{Instance, output_text};

const NETWORK_HTML: &str = include_str!("fixtures/iom/statement-network.html");
const SLOVENIA_HTML: &str = include_str!("fixtures/iom/statement-slovenia.html");
const NETWORK_PATH: &str =
    "/news/statement-un-network-migration-formal-endorsement-global-compact-migration";
const SLOVENIA_PATH: &str = "/news/iom-lauds-adoption-global-compact-migration-0";
const SLOVENIA_TITLE: &str = "IOM Lauds Adoption of Global Compact for Migration";

fn rss(site: &FixtureSite, items: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>IOM News</title>\
         <link>https://www.iom.int/news</link><description>News</description>\n",
    );
    for (title, path) in items {
        s.push_str(&format!(
            "<item><title>{title}</title><link>{}</link><guid isPermaLink=\"false\">{path} at iom</guid>\
             <pubDate>Mon, 10 Dec 2018 12:00:00 +0000</pubDate></item>\n",
            site.url(path)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

struct World {
    site: FixtureSite,
    smtp: SmtpServer,
    pw: Instance,
}

impl std::ops::Deref for World {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.pw
    }
}

impl World {
    fn new() -> World {
        let site = FixtureSite::start();
        let smtp = SmtpServer::start();
        let pw = Instance::new(|db| {
            format!(
                r#"
database = "{db}"
schedule = "0 */30 * * * *"

[fetch]
timeout_secs = 5
per_host_interval_ms = 0

# The seeds are 2018 statements, which the default revisit policy checks weekly; this story
# re-checks them every cycle.
[revisit]
fresh_days = 36500

[email]
to = ["alerts@example.org"]
from = "presswatch <presswatch@example.org>"
smtp = "{smtp}"

[[sources]]
name = "iom-news"
kind = "feed"
url = "{feed}"
match = '^{base}/news/'
profile = "iom"
"#,
                db = db.display(),
                smtp = smtp.url(),
                feed = site.url("/news/rss.xml"),
                base = regex::escape(&site.base_url()),
            )
        });
        World { site, smtp, pw }
    }
}

#[test]
fn baseline_new_changed_removed_story() {
    let w = World::new();
    w.site.set(
        "/news/rss.xml",
        Response::xml(rss(
            &w.site,
            &[("Statement by UN Network on Migration", NETWORK_PATH)],
        )),
    );
    w.site.set(NETWORK_PATH, Response::html(NETWORK_HTML));

    // 1. Baseline: the statement already there is recorded silently.
    w.check();
    assert_eq!(
        w.smtp.messages().len(),
        0,
        "the baseline cycle must not mail"
    );
    let show = w.run(&["show", &w.site.url(NETWORK_PATH), "--json"]);
    assert!(show.status.success(), "{}", output_text(&show));
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show --json");
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["title"],
        "Statement by UN Network on Migration on the Formal Endorsement of the Global Compact for Migration"
    );
    let body = v["body"].as_str().expect("body");
    assert!(
        body.starts_with("New York/Geneva — The new United Nations Network"),
        "{body}"
    );
    assert!(
        body.ends_with("For more information please contact Charbel Raji, raji1@un.org"),
        "{body}"
    );
    for chrome in ["Who we are", "Take Action", "2030 Agenda", "Where we work"] {
        assert!(
            !body.contains(chrome),
            "menu text {chrome:?} leaked into {body}"
        );
    }

    // 2. A new statement appears in the feed: one New mail.
    w.site.set(
        "/news/rss.xml",
        Response::xml(rss(
            &w.site,
            &[
                (SLOVENIA_TITLE, SLOVENIA_PATH),
                ("Statement by UN Network on Migration", NETWORK_PATH),
            ],
        )),
    );
    w.site.set(SLOVENIA_PATH, Response::html(SLOVENIA_HTML));
    w.check();
    let mails = w.smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(mails.len(), 1);
    let new_mail = mails[0].parse();
    assert_eq!(
        new_mail.subject,
        format!("[presswatch] New: {SLOVENIA_TITLE}")
    );
    assert!(new_mail.is_multipart_alternative);
    assert!(
        new_mail.text.contains(&w.site.url(SLOVENIA_PATH)),
        "{}",
        new_mail.text
    );
    assert!(
        new_mail.text.contains("Marrakesh, Morocco"),
        "{}",
        new_mail.text
    );
    assert_eq!(mails[0].rcpt_to, vec!["alerts@example.org"]);
    // The unchanged statement was asked conditionally and answered 304.
    let last = w
        .site
        .requests_for(NETWORK_PATH)
        .pop()
        .expect("network page requested");
    assert!(
        last.header("if-none-match").is_some(),
        "no conditional GET: {last:?}"
    );
    assert_eq!(last.status, 304);

    // 3a. A whitespace-only edit is not a change.
    w.site.set(
        SLOVENIA_PATH,
        Response::html(SLOVENIA_HTML.replace(
            "There are nearly 260 million",
            "There  are\n nearly   260 million",
        )),
    );
    w.check();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        w.smtp.messages().len(),
        1,
        "whitespace-only edit must not alert"
    );

    // 3b. A server error is a failed check, not a change.
    w.site.set(SLOVENIA_PATH, Response::status(503));
    let out = w.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&w.site.url(SLOVENIA_PATH)) && stderr.contains("503"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.smtp.messages().len(), 1, "a 503 must not alert");

    // 3c. A real edit: one Changed mail with the edited words marked.
    w.site.set(
        SLOVENIA_PATH,
        Response::html(SLOVENIA_HTML.replace(
            "There are nearly 260 million",
            "There are nearly 281 million",
        )),
    );
    w.check();
    let mails = w.smtp.wait_for(2, Duration::from_secs(10));
    assert_eq!(mails.len(), 2);
    let changed = mails[1].parse();
    assert_eq!(
        changed.subject,
        format!("[presswatch] Changed: {SLOVENIA_TITLE}")
    );
    assert!(changed.text.contains("[-260-]{+281+}"), "{}", changed.text);
    assert!(changed.html.contains(">260</del>"), "{}", changed.html);
    assert!(changed.html.contains(">281</ins>"), "{}", changed.html);
    assert!(
        changed.text.contains("+1 / \u{2212}1 words"),
        "{}",
        changed.text
    );

    // 4. The statement is deleted: the first 404 is only a failed check, the second a removal.
    w.site.set(
        "/news/rss.xml",
        Response::xml(rss(
            &w.site,
            &[("Statement by UN Network on Migration", NETWORK_PATH)],
        )),
    );
    w.site.remove(SLOVENIA_PATH);
    w.check();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.smtp.messages().len(), 2, "one 404 is not yet a removal");
    w.check();
    let mails = w.smtp.wait_for(3, Duration::from_secs(10));
    assert_eq!(mails.len(), 3);
    let removed = mails[2].parse();
    assert_eq!(
        removed.subject,
        format!("[presswatch] Removed: {SLOVENIA_TITLE}")
    );
    assert!(
        removed.text.contains(&w.site.url(SLOVENIA_PATH)),
        "{}",
        removed.text
    );

    // A further cycle sends nothing more.
    w.check();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.smtp.messages().len(), 3);

    // Every mail has its own Message-ID.
    let mut ids: Vec<String> = mails.iter().filter_map(|m| m.parse().message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "Message-IDs must be present and unique");

    // 5. The change log lists exactly those three changes, newest first.
    let out = w.run(&["log", "--json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, vec!["removed", "changed", "new"], "{rows:?}");
    for r in &rows {
        assert_eq!(r["url"], w.site.url(SLOVENIA_PATH));
        assert_eq!(r["title"], SLOVENIA_TITLE);
        assert_eq!(r["source"], "iom-news");
        for key in [
            "id",
            "detected_at",
            "from_version",
            "to_version",
            "words_added",
            "words_removed",
        ] {
            assert!(r.get(key).is_some(), "missing {key} in {r}");
        }
        let t = r["detected_at"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "detected_at {t:?} is not RFC 3339"
        );
    }
    assert_eq!(
        (
            rows[1]["from_version"].as_i64(),
            rows[1]["to_version"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(
        (
            rows[1]["words_added"].as_i64(),
            rows[1]["words_removed"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // `diff` shows the edit too.
    let out = w.run(&["diff", &w.site.url(SLOVENIA_PATH)]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[-260-]{+281+}"),
        "{}",
        output_text(&out)
    );
}
