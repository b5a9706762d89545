//! Alert delivery against a real SMTP server on 127.0.0.1: transient and permanent refusals,
//! a server that is down, a daemon killed at random moments, digests, routing, noise control
//! and non-Latin statements.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::http::{FixtureSite, Response};
use common::smtp::SmtpServer;
use common::{Instance, command, output_text};

fn article(title: &str, paragraphs: &[String]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title} | Agency</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav>\
         <main><article><h1>{title}</h1>\n{body}</article></main><footer><a href=\"/privacy\">Privacy</a></footer></body></html>"
    )
}

fn paras(tag: &str) -> Vec<String> {
    vec![
        format!("GENEVA – The agency today issued statement {tag} on safe and regular migration pathways for workers and their families."),
        "Governments are urged to expand labour mobility, recognise skills earned abroad and protect the rights of migrants at every stage.".to_string(),
        "For more information please contact the media office.".to_string(),
    ]
}

struct Env {
    site: FixtureSite,
    smtp: SmtpServer,
    pw: Instance,
}

impl std::ops::Deref for Env {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.pw
    }
}

impl Env {
    /// `sources` is the TOML of the [[sources]] tables; `{base}` is replaced by the site URL.
    fn new(extra_email: &str, sources: &str) -> Env {
        let site = FixtureSite::start();
        let smtp = SmtpServer::start();
        let pw = Instance::new(|db| {
            format!(
                "database = \"{}\"\nschedule = \"*/1 * * * * *\"\nalert_on_first_run = true\n\
                 [fetch]\nper_host_interval_ms = 0\ntimeout_secs = 5\n\
                 [email]\nto = [\"alerts@example.org\"]\nsmtp = \"{}\"\nretry_secs = 0\n{extra_email}\n{}",
                db.display(),
                smtp.url(),
                sources.replace("{base}", &site.base_url()),
            )
        });
        Env { site, smtp, pw }
    }

    fn settle(&self) {
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn pages(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("[[sources]]\nname = \"p{i}\"\nkind = \"page\"\nurl = \"{{base}}/s{i}\"\n")
        })
        .collect()
}

#[test]
fn a_451_is_retried_and_delivered_once() {
    let env = Env::new("", &pages(1));
    env.site.set(
        "/s0",
        Response::html(article("Statement zero", &paras("zero"))),
    );
    env.smtp.reply_to_data_with(vec![451]);
    let out = env.check();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("451"),
        "{}",
        output_text(&out)
    );
    env.settle();
    assert!(env.smtp.messages().is_empty());
    env.check();
    assert_eq!(env.smtp.wait_for(1, Duration::from_secs(5)).len(), 1);
    env.check();
    env.settle();
    assert_eq!(env.smtp.messages().len(), 1, "delivered exactly once");
}

#[test]
fn a_permanent_550_marks_the_alert_failed_and_others_still_go() {
    let env = Env::new("max_attempts = 2\n", &pages(2));
    env.site.set(
        "/s0",
        Response::html(article("Statement zero", &paras("zero"))),
    );
    env.site.set(
        "/s1",
        Response::html(article("Statement one", &paras("one"))),
    );
    // The first alert is refused for good (twice: max_attempts), the second goes through.
    env.smtp.reply_to_data_with(vec![550, 250, 550]);
    env.check();
    let mails = env.smtp.wait_for(1, Duration::from_secs(5));
    assert_eq!(mails.len(), 1);
    // The two sources run concurrently, so either alert may be the refused one.
    let delivered = mails[0].parse().subject;
    assert!(
        delivered.starts_with("[presswatch] New: Statement "),
        "{delivered}"
    );
    env.check();
    env.settle();
    assert_eq!(env.smtp.messages().len(), 1);

    let sources = env.run(&["sources"]);
    let text = String::from_utf8_lossy(&sources.stdout);
    assert!(text.contains("1 failed"), "{text}");
    let outbox = env.run(&["outbox", "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&outbox.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let failed: Vec<_> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("550"),
        "{rows:?}"
    );
    assert_eq!(failed[0]["attempts"], 2);

    // `outbox retry --all` queues it again; now the server takes it.
    let retry = env.run(&["outbox", "retry", "--all"]);
    assert!(retry.status.success(), "{}", output_text(&retry));
    env.check();
    assert_eq!(env.smtp.wait_for(2, Duration::from_secs(5)).len(), 2);
}

#[test]
fn daemon_delivers_every_alert_once_after_refused_connections() {
    let env = Env::new("", &pages(3));
    for i in 0..3 {
        env.site.set(
            &format!("/s{i}"),
            Response::html(article(&format!("Statement {i}"), &paras(&i.to_string()))),
        );
    }
    env.smtp.refuse_next_connections(3);
    let mut child = command()
        .arg("--config")
        .arg(&env.config)
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daemon");
    let mails = env.smtp.wait_for(3, Duration::from_secs(30));
    // A few more cycles: nothing is sent again.
    std::thread::sleep(Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(mails.len(), 3);
    let all = env.smtp.messages();
    let subjects: BTreeSet<String> = all.iter().map(|m| m.parse().subject).collect();
    assert_eq!(all.len(), 3, "{subjects:?}");
    assert_eq!(subjects.len(), 3);
    assert!(
        env.smtp.connections() >= 4,
        "the refused connections were tried"
    );
}

/// A tiny deterministic generator (the seed is printed) for kill delays.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let env = Env::new("", &pages(2));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("kill-delay seed: {seed}");
    let mut rng = Lcg(seed);
    for round in 0..20 {
        // Every round edits the pages, so every cycle has changes to record and mail.
        for i in 0..2 {
            env.site.set(
                &format!("/s{i}"),
                Response::html(article(
                    &format!("Statement {i}"),
                    &paras(&format!("{i} edition {round}")),
                )),
            );
        }
        let mut child = command()
            .arg("--config")
            .arg(&env.config)
            .arg("run")
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("daemon");
        std::thread::sleep(Duration::from_millis(200 + rng.next() % 1800));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // A last, uninterrupted cycle delivers whatever is still pending.
    env.check();
    env.settle();

    let log = env.run(&["log", "--json"]);
    let changes: BTreeSet<i64> = String::from_utf8_lossy(&log.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["id"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect();
    assert!(
        changes.len() >= 2,
        "the rounds recorded changes: {changes:?}"
    );

    // Group received mail by Message-ID.
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in env.smtp.messages() {
        let p = m.parse();
        let id = p.message_id.clone().expect("every alert has a Message-ID");
        by_id.entry(id).or_default().push(p.text);
    }
    let mailed: BTreeSet<i64> = by_id
        .keys()
        .filter_map(|id| id.strip_prefix("change-")?.split('.').next()?.parse().ok())
        .collect();
    assert_eq!(mailed, changes, "every change mailed, and only changes");
    // A resend after a kill between "accepted" and "recorded" is the same mail (same
    // Message-ID, same content), so a mail client shows it once.
    for (id, copies) in &by_id {
        assert!(
            copies.windows(2).all(|w| w[0] == w[1]),
            "{id}: two different mails"
        );
    }
    let extra: usize = by_id.values().map(|c| c.len() - 1).sum();
    eprintln!(
        "{} changes, {} Message-IDs, {} resent copies",
        changes.len(),
        by_id.len(),
        extra
    );
}

#[test]
fn cycle_digest_routing_and_noise_control() {
    let sources = "[[sources]]\nname = \"digested\"\nkind = \"page\"\nurl = \"{base}/d\"\ndigest = \"cycle\"\n\
        [[sources]]\nname = \"digested2\"\nkind = \"page\"\nurl = \"{base}/d2\"\ndigest = \"cycle\"\n\
        [[sources]]\nname = \"routed\"\nkind = \"page\"\nurl = \"{base}/r\"\nto = [\"desk@example.org\"]\n\
        ignore = ['^Last updated']\nmin_change_words = 5\nnotify = [\"changed\"]\n";
    let env = Env::new("", sources);
    env.site
        .set("/d", Response::html(article("Digest one", &paras("d1"))));
    env.site
        .set("/d2", Response::html(article("Digest two", &paras("d2"))));
    let mut r = paras("r");
    r.push("Last updated 1 May 2026".into());
    env.site.set("/r", Response::html(article("Routed", &r)));
    env.check();
    let mails = env.smtp.wait_for(1, Duration::from_secs(5));
    env.settle();
    // Two changes of the digest sources in one mail; the routed source does not alert on new.
    assert_eq!(
        env.smtp.messages().len(),
        1,
        "one digest, nothing for `routed` (notify = changed)"
    );
    let digest = mails[0].parse();
    assert_eq!(digest.subject, "[presswatch] Digest: 2 changes (2 new)");
    assert!(
        digest.text.contains("Digest one") && digest.text.contains("Digest two"),
        "{}",
        digest.text
    );

    // Only the ignored line changes: no new version, no alert.
    let mut r2 = paras("r");
    r2.push("Last updated 2 May 2026".into());
    env.site.set("/r", Response::html(article("Routed", &r2)));
    env.check();
    // A two-word edit (+2/-2): stored, below min_change_words = 5, not alerted.
    let mut r3 = paras("r");
    r3[1] = r3[1].replace("expand labour mobility", "widen labour movement");
    env.site.set("/r", Response::html(article("Routed", &r3)));
    env.check();
    env.settle();
    assert_eq!(env.smtp.messages().len(), 1);
    // A real edit goes to the source's own recipients.
    let mut r4 = r3.clone();
    r4[0] = "BRUSSELS – A completely different opening paragraph replaces the original one today."
        .into();
    env.site.set("/r", Response::html(article("Routed", &r4)));
    env.check();
    let mails = env.smtp.wait_for(2, Duration::from_secs(5));
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].rcpt_to, vec!["desk@example.org"]);
    assert_eq!(mails[1].parse().subject, "[presswatch] Changed: Routed");

    let log = env.run(&["log", "--json", "--source", "routed"]);
    let kinds: Vec<String> = String::from_utf8_lossy(&log.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["changed", "changed", "new"],
        "the small edit is a stored version too"
    );
}

#[test]
fn french_and_arabic_statements() {
    let env = Env::new("", &pages(2));
    let fr = vec![
        "GENÈVE – L’Organisation internationale pour les migrations (OIM) salue l’adoption du Pacte mondial, « une réussite historique ».".to_string(),
        "Les États membres s’engagent à coopérer à tous les niveaux pour des migrations sûres, ordonnées et régulières.".to_string(),
    ];
    let ar = vec![
        "جنيف – رحبت المنظمة الدولية للهجرة اليوم باعتماد الاتفاق العالمي من أجل الهجرة الآمنة والمنظمة والنظامية.".to_string(),
        "وقال المدير العام إن التعاون بشأن الهجرة على جميع المستويات أمر أساسي لمعالجة قضايا الهجرة في عصرنا.".to_string(),
    ];
    env.site.set(
        "/s0",
        Response::html(article(
            "L’OIM salue l’adoption du Pacte mondial sur les migrations",
            &fr,
        )),
    );
    env.site.set(
        "/s1",
        Response::html(article(
            "المنظمة الدولية للهجرة ترحب باعتماد الاتفاق العالمي",
            &ar,
        )),
    );
    env.check();
    let mails = env.smtp.wait_for(2, Duration::from_secs(5));
    assert_eq!(mails.len(), 2);
    let parsed: Vec<_> = mails.iter().map(|m| m.parse()).collect();
    let fr_mail = parsed
        .iter()
        .find(|m| m.subject.contains("OIM"))
        .expect("french mail");
    assert_eq!(
        fr_mail.subject,
        "[presswatch] New: L’OIM salue l’adoption du Pacte mondial sur les migrations"
    );
    assert!(
        fr_mail.text.contains("« une réussite historique »"),
        "{}",
        fr_mail.text
    );
    let ar_mail = parsed
        .iter()
        .find(|m| m.subject.contains("المنظمة"))
        .expect("arabic mail");
    assert_eq!(
        ar_mail.subject,
        "[presswatch] New: المنظمة الدولية للهجرة ترحب باعتماد الاتفاق العالمي"
    );
    assert!(ar_mail.html.contains("dir=\"auto\""), "{}", ar_mail.html);
    assert!(
        ar_mail.html.contains("رحبت المنظمة الدولية للهجرة"),
        "{}",
        ar_mail.html
    );
    // Subjects are RFC 2047 encoded on the wire (pure ASCII headers).
    for m in &mails {
        let raw = m.data_str();
        let subject_line = raw
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .unwrap_or_default();
        assert!(subject_line.is_ascii(), "{subject_line}");
    }
}

#[test]
fn test_email_says_what_happened() {
    let env = Env::new("", &pages(0));
    let ok = env.run(&["test-email"]);
    assert!(ok.status.success(), "{}", output_text(&ok));
    assert_eq!(
        env.smtp.wait_for(1, Duration::from_secs(5))[0]
            .parse()
            .subject,
        "[presswatch] Test mail"
    );

    // A port where nothing listens: one line naming the host and the reason.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = dead.local_addr().expect("addr").port();
    drop(dead);
    let out = command()
        .arg("--config")
        .arg(&env.config)
        .arg("test-email")
        .env("PRESSWATCH_EMAIL_SMTP", format!("smtp://127.0.0.1:{port}"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn daily_digest_waits_for_its_time_then_mails_once() {
    let env = Env::new("digest = \"daily 06:00\"\n", &pages(2));
    env.site.set(
        "/s0",
        Response::html(article("Statement zero", &paras("zero"))),
    );
    env.site.set(
        "/s1",
        Response::html(article("Statement one", &paras("one"))),
    );
    env.check();
    env.settle();
    assert!(
        env.smtp.messages().is_empty(),
        "a daily digest waits for 06:00 UTC"
    );
    let outbox = env.run(&["outbox", "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&outbox.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["digest"], "daily 06:00");
        assert!(
            r["next_attempt_at"]
                .as_str()
                .unwrap_or_default()
                .ends_with("T06:00:00Z"),
            "{r}"
        );
    }
    // Six o'clock comes (moved forward in the database rather than waited for).
    let db = env.db();
    let conn = rusqlite::Connection::open(&db).expect("db");
    conn.execute(
        "UPDATE outbox SET next_attempt_at = '2000-01-01T06:00:00Z'",
        [],
    )
    .expect("update");
    drop(conn);
    env.check();
    let mails = env.smtp.wait_for(1, Duration::from_secs(5));
    env.settle();
    assert_eq!(env.smtp.messages().len(), 1);
    assert_eq!(
        mails[0].parse().subject,
        "[presswatch] Digest: 2 changes (2 new)"
    );
    env.check();
    env.settle();
    assert_eq!(env.smtp.messages().len(), 1, "sent once");
}
