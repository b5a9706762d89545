//! Pipeline behaviour through the real binary against loopback servers: failed checks never
//! alert, the outbox survives a mail server that is down, alerts without SMTP become .eml
//! files, and configuration errors exit 2 naming the file and line.

mod common;

use std::time::Duration;

use common::http::{FixtureSite, Response};
use common::smtp::SmtpServer;
use common::{Instance, TempState, brotli, command, gzip, output_text};

fn article(title: &str, paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>\n")).collect();
    format!(
        "<!DOCTYPE html><html><head><title>{title} | Example Agency</title></head><body>\
         <nav><ul><li><a href=\"/\">Home</a></li><li><a href=\"/about\">About us</a></li><li><a href=\"/news\">News</a></li></ul></nav>\
         <main><article><h1>{title}</h1>\n{body}</article></main>\
         <footer><a href=\"/privacy\">Privacy</a> <a href=\"/contact\">Contact</a></footer></body></html>"
    )
}

const PARAS: &[&str] = &[
    "GENEVA – The agency today welcomed the adoption of a new framework on regular migration pathways, which member states negotiated over two years.",
    "The framework commits governments to expand labour mobility schemes, recognise qualifications earned abroad and protect the rights of workers at every stage.",
    "“This is a practical step that will change lives,” said the Director General, speaking at the closing session of the conference.",
    "For more information please contact the media office at media@example.org.",
];

struct Env {
    site: FixtureSite,
    pw: Instance,
}

impl std::ops::Deref for Env {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.pw
    }
}

impl Env {
    /// One `page` source per path; alerts on first run so every new page mails at once.
    fn new(paths: &[&str], smtp: Option<&SmtpServer>, timeout_secs: u64) -> Env {
        let site = FixtureSite::start();
        let pw = Instance::new(|db| {
            let mut toml = format!(
                "database = \"{}\"\nalert_on_first_run = true\n[fetch]\ntimeout_secs = {timeout_secs}\nper_host_interval_ms = 0\n\
                 [email]\nto = [\"alerts@example.org\"]\n",
                db.display()
            );
            if let Some(s) = smtp {
                toml.push_str(&format!("smtp = \"{}\"\n", s.url()));
            }
            for (i, p) in paths.iter().enumerate() {
                toml.push_str(&format!(
                    "[[sources]]\nname = \"page{i}\"\nkind = \"page\"\nurl = \"{}\"\n",
                    site.url(p)
                ));
            }
            toml
        });
        Env { site, pw }
    }

    fn log(&self) -> Vec<serde_json::Value> {
        self.json_lines(&["log", "--json"])
    }
}

#[test]
fn failed_checks_never_create_versions_or_alerts() {
    let smtp = SmtpServer::start();
    let paths = [
        "/slow",
        "/error-page",
        "/empty",
        "/pdf",
        "/server-error",
        "/forbidden",
    ];
    let env = Env::new(&paths, Some(&smtp), 1);
    env.site
        .set("/slow", Response::html(article("Slow statement", PARAS)));
    env.site.set_delay("/slow", Duration::from_secs(3));
    env.site.set(
        "/error-page",
        Response::html(article(
            "Page not found",
            &["The page you requested could not be found on this server, sorry about that."],
        )),
    );
    env.site.set("/empty", Response::html("<html><head><title>Nothing</title></head><body><nav><a href=\"/\">Home</a></nav></body></html>"));
    env.site.set(
        "/pdf",
        Response::new(200, "application/pdf", b"%PDF-1.4 binary".to_vec()),
    );
    env.site.set("/server-error", Response::status(500));
    env.site.set("/forbidden", Response::status(403));

    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for p in paths {
        assert!(
            stderr.contains(&env.site.url(p)),
            "failure for {p} not reported:\n{stderr}"
        );
    }
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(env.log().is_empty(), "failed checks must not be changes");
    std::thread::sleep(Duration::from_millis(300));
    assert!(smtp.messages().is_empty(), "failed checks must not mail");

    // Once the pages are fine, each becomes version 1 with one New alert.
    env.site.clear_delay("/slow");
    env.check();
    let log = env.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["kind"], "new");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).len(), 1);
}

#[test]
fn truncated_extraction_needs_confirmation() {
    let smtp = SmtpServer::start();
    let env = Env::new(&["/s"], Some(&smtp), 5);
    let long: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "{} Paragraph number {i} keeps the statement long.",
                PARAS[1]
            )
        })
        .collect();
    let long_refs: Vec<&str> = long.iter().map(String::as_str).collect();
    env.site
        .set("/s", Response::html(article("Long statement", &long_refs)));
    env.check();
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).len(), 1);

    // The page comes back with one paragraph: suspicious, held back.
    env.site
        .set("/s", Response::html(article("Long statement", &[PARAS[0]])));
    let out = env.check();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shrank"),
        "{}",
        output_text(&out)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1);
    // Seen again: it is real.
    env.check();
    let mails = smtp.wait_for(2, Duration::from_secs(5));
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1]
            .parse()
            .subject
            .starts_with("[presswatch] Changed: Long statement")
    );
}

#[test]
fn alerts_wait_in_the_outbox_while_smtp_is_down() {
    let smtp = SmtpServer::start();
    let env = Env::new(&["/a"], Some(&smtp), 5);
    env.site
        .set("/a", Response::html(article("Statement A", PARAS)));
    // The server refuses the next connection (the one this check makes).
    smtp.refuse_next_connections(1);
    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SMTP 127.0.0.1"),
        "the SMTP failure must name the host:\n{stderr}"
    );
    assert!(smtp.messages().is_empty());
    let sources = env.run(&["sources"]);
    assert!(
        String::from_utf8_lossy(&sources.stdout).contains("alerts: 1 pending"),
        "{}",
        output_text(&sources)
    );

    // The server is back; the retry is due after its backoff: make it due now.
    let db = env.db();
    let conn = rusqlite::Connection::open(&db).expect("db");
    conn.execute(
        "UPDATE outbox SET next_attempt_at = '2000-01-01T00:00:00Z'",
        [],
    )
    .expect("update");
    drop(conn);
    env.check();
    let mails = smtp.wait_for(1, Duration::from_secs(5));
    assert_eq!(mails.len(), 1);
    // Nothing is sent twice.
    env.check();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn without_smtp_alerts_are_eml_files() {
    let env = Env::new(&["/a"], None, 5);
    env.site
        .set("/a", Response::html(article("Statement A", PARAS)));
    env.check();
    let dir = env.state.join("state/outbox");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("outbox dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(files[0].path()).expect("eml");
    let mail = common::mail::parse_bytes(&raw);
    assert_eq!(mail.subject, "[presswatch] New: Statement A");
    assert!(mail.is_multipart_alternative);
}

#[test]
fn config_errors_exit_2_naming_file_and_line() {
    let state = TempState::new();
    let cfg =
        state.write_config("database = \"x.db\"\n[fetch]\ntimeout_secs = 5\nconcurency = 3\n");
    let out = command()
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", cfg.display())),
        "{stderr}"
    );
    assert!(stderr.contains("concurency"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let cfg = state.write_config("[[sources]]\nname = \"x\"\nkind = \"listing\"\nurl = \"https://e.org/\"\nlinks = \"a[[\"\n");
    let out = command()
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":5: sources.links"),
        "{}",
        output_text(&out)
    );

    let missing = state.join("nope.toml");
    let out = command()
        .arg("--config")
        .arg(&missing)
        .arg("check")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
}

#[test]
fn extractor_upgrades_never_alert_and_reextract_rewrites_text() {
    let smtp = SmtpServer::start();
    let env = Env::new(&["/a"], Some(&smtp), 5);
    env.site
        .set("/a", Response::html(article("Statement A", PARAS)));
    env.check();
    assert_eq!(smtp.wait_for(1, Duration::from_secs(5)).len(), 1);

    // Pretend an older extractor stored the text with a menu line in it.
    let db = env.db();
    let conn = rusqlite::Connection::open(&db).expect("db");
    conn.execute(
        "UPDATE versions SET extractor_version = 0, body = 'Home About us News\n\n' || body",
        [],
    )
    .expect("update");
    drop(conn);

    // The page changed its bytes but not its statement: the old HTML is re-extracted with the
    // current extractor before comparing, so the upgrade alone alerts nothing.
    env.site.set(
        "/a",
        Response::html(article("Statement A", PARAS).replace("<footer>", "<footer> ")),
    );
    env.check();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        smtp.messages().len(),
        1,
        "an extractor upgrade must not alert"
    );
    assert_eq!(env.log().len(), 1);

    // `reextract` rewrites the stored text from the stored HTML.
    let out = env.run(&["reextract"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 stored versions got a different text"),
        "{}",
        output_text(&out)
    );
    let show = env.run(&["show", &env.site.url("/a"), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert!(
        !v["body"]
            .as_str()
            .unwrap_or_default()
            .contains("Home About us"),
        "{v}"
    );
    assert_eq!(env.log().len(), 1, "re-extraction records no change");
}

#[test]
fn compressed_pages_are_decoded_capped_and_stored_as_sent() {
    let paths = [
        "/gz",
        "/br",
        "/bomb",
        "/odd-coding",
        "/deflate",
        "/none",
        "/empty-gz",
    ];
    let env = Env::new(&paths, None, 5);
    let gz = gzip(article("Statement sent gzipped", PARAS).as_bytes());
    let br = brotli(article("Statement sent with brotli", PARAS).as_bytes());
    env.site.set(
        "/gz",
        Response::html(gz.clone()).with_header("Content-Encoding", "gzip"),
    );
    env.site.set(
        "/br",
        Response::html(br.clone()).with_header("Content-Encoding", "br"),
    );
    // 12 MB of markup in 12 kB: decoding stops at the 10 MB cap.
    let mut huge = article("Bomb", PARAS).into_bytes();
    huge.extend(std::iter::repeat_n(b' ', 12 << 20));
    let bomb = gzip(&huge);
    assert!(bomb.len() < 100_000);
    env.site.set(
        "/bomb",
        Response::html(bomb).with_header("Content-Encoding", "gzip"),
    );
    env.site.set(
        "/odd-coding",
        Response::html(b"\x1f\x9d...".to_vec()).with_header("Content-Encoding", "compress"),
    );
    // HTTP's "deflate" is zlib; "none" names no compression (some servers send it).
    let zlib = {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(article("Statement sent deflated", PARAS).as_bytes())
            .expect("zlib");
        e.finish().expect("zlib")
    };
    env.site.set(
        "/deflate",
        Response::html(zlib.clone()).with_header("Content-Encoding", "deflate"),
    );
    env.site.set(
        "/none",
        Response::html(article("Statement sent plain", PARAS))
            .with_header("Content-Encoding", "none"),
    );
    // An empty body is empty whatever its Content-Encoding (an empty page: a failed check).
    env.site.set(
        "/empty-gz",
        Response::html(Vec::new()).with_header("Content-Encoding", "gzip"),
    );

    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("GET {}: body larger than", env.site.url("/bomb"))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "GET {}: unsupported Content-Encoding \"compress\"",
            env.site.url("/odd-coding")
        )),
        "{stderr}"
    );
    for p in paths {
        let r = &env.site.requests_for(p)[0];
        assert_eq!(r.header("accept-encoding"), Some("gzip, br"), "{p}");
    }
    let v = env.show_json(&env.site.url("/gz"));
    assert_eq!(v["title"], "Statement sent gzipped");
    assert!(
        v["body"]
            .as_str()
            .unwrap_or_default()
            .contains("regular migration pathways")
    );
    let v = env.show_json(&env.site.url("/br"));
    assert_eq!(v["title"], "Statement sent with brotli");
    assert_eq!(
        env.show_json(&env.site.url("/deflate"))["title"],
        "Statement sent deflated"
    );
    assert_eq!(
        env.show_json(&env.site.url("/none"))["title"],
        "Statement sent plain"
    );
    assert!(!stderr.contains("corrupt gzip"), "{stderr}");
    let log = env.log();
    assert_eq!(log.len(), 4, "{log:?}");

    // Stored as the site sent it: the very bytes, with their coding.
    let conn = rusqlite::Connection::open(env.db()).expect("db");
    let stored = |path: &str| -> (String, Vec<u8>) {
        conn.query_row(
            "SELECT v.raw_encoding, v.raw_html FROM versions v JOIN pages p ON p.id = v.page_id WHERE p.url = ?1",
            [env.site.url(path)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("version row")
    };
    assert_eq!(stored("/gz"), ("gzip".to_string(), gz));
    assert_eq!(stored("/br"), ("br".to_string(), br));
    assert_eq!(stored("/deflate"), ("zlib".to_string(), zlib));
    drop(conn);

    // Re-extraction reads them back.
    let out = env.run(&["reextract"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 stored versions got a different text"),
        "{}",
        output_text(&out)
    );
}
