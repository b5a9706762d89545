//! Tests of the integration-test harness itself (`tests/common`), against
//! real clients: reqwest / raw TCP for `FixtureSite`, lettre for `SmtpServer`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::{FixtureSite, Response};
use common::smtp::SmtpServer;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

struct Got {
    status: u16,
    etag: Option<String>,
    last_modified: Option<String>,
    body: String,
}

async fn get(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = c.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, last_modified) = (h("etag"), h("last-modified"));
    let status = resp.status().as_u16();
    Got {
        status,
        etag,
        last_modified,
        body: resp.text().await.unwrap(),
    }
}

#[test]
fn http_200_etag_304_and_change() {
    let site = FixtureSite::start();
    assert!(site.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(site.url("/news"), format!("{}/news", site.base_url()));
    site.set("/news", Response::html("<h1>v1</h1>"));
    rt().block_on(async {
        let c = client();
        let url = site.url("/news");

        let a = get(&c, &url, &[]).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body, "<h1>v1</h1>");
        let etag = a.etag.expect("etag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong etag: {etag}"
        );
        let lm = a.last_modified.expect("last-modified");
        assert!(lm.ends_with(" GMT"), "{lm}");

        let b = get(&c, &url, &[("If-None-Match", &etag)]).await;
        assert_eq!(b.status, 304);
        assert_eq!(b.body, "");
        assert_eq!(b.etag.as_deref(), Some(etag.as_str()));

        let b2 = get(&c, &url, &[("If-Modified-Since", &lm)]).await;
        assert_eq!(b2.status, 304);

        // Same body again: validators unchanged.
        site.set("/news", Response::html("<h1>v1</h1>"));
        let same = get(&c, &url, &[("If-None-Match", &etag)]).await;
        assert_eq!(same.status, 304);

        // Changed body: new ETag, old validators no longer match.
        site.set("/news", Response::html("<h1>v2</h1>"));
        let c1 = get(&c, &url, &[("If-None-Match", &etag)]).await;
        assert_eq!(c1.status, 200);
        assert_eq!(c1.body, "<h1>v2</h1>");
        let etag2 = c1.etag.unwrap();
        assert_ne!(etag2, etag);
        let lm2 = c1.last_modified.unwrap();
        assert_ne!(lm2, lm);
        let c2 = get(&c, &url, &[("If-Modified-Since", &lm)]).await;
        assert_eq!(c2.status, 200, "old If-Modified-Since must not match");
        // If-None-Match takes precedence over If-Modified-Since.
        let c3 = get(
            &c,
            &url,
            &[("If-None-Match", &etag), ("If-Modified-Since", &lm2)],
        )
        .await;
        assert_eq!(c3.status, 200);
        let c4 = get(&c, &url, &[("If-None-Match", &format!("W/{etag2}"))]).await;
        assert_eq!(c4.status, 304);
    });

    let reqs = site.requests_for("/news");
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 304, 304, 304, 200, 200, 200, 304]);
    assert_eq!(site.hits("/news"), 8);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert!(reqs[1].header("If-None-Match").is_some());
    assert!(reqs[2].header("if-modified-since").is_some());
    assert!(reqs.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn http_404_remove_status_override_query_and_custom_headers() {
    let site = FixtureSite::start();
    rt().block_on(async {
        let c = client();
        assert_eq!(get(&c, &site.url("/missing"), &[]).await.status, 404);

        site.set("/p", Response::html("x"));
        assert_eq!(get(&c, &site.url("/p"), &[]).await.status, 200);
        site.remove("/p");
        assert_eq!(get(&c, &site.url("/p"), &[]).await.status, 404);

        site.set(
            "/busy",
            Response::status(503).with_header("Retry-After", "7"),
        );
        let r = c.get(site.url("/busy")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(r.headers()["retry-after"], "7");
        assert!(r.headers().get("etag").is_none(), "no validators on errors");
        site.set("/busy", Response::status(429));
        assert_eq!(get(&c, &site.url("/busy"), &[]).await.status, 429);

        // Query-specific routes win over the bare path.
        site.set("/feed", Response::xml("<rss/>"));
        site.set("/feed?page=2", Response::xml("<rss>2</rss>"));
        let r = c.get(site.url("/feed")).send().await.unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "application/xml; charset=utf-8"
        );
        assert_eq!(r.text().await.unwrap(), "<rss/>");
        assert_eq!(
            get(&c, &site.url("/feed?page=2"), &[]).await.body,
            "<rss>2</rss>"
        );
        assert_eq!(get(&c, &site.url("/feed?x=1"), &[]).await.body, "<rss/>");

        // Custom validators replace the automatic ones and drive 304s.
        site.set(
            "/own",
            Response::html("own")
                .with_header("ETag", "\"v7\"")
                .with_header("Last-Modified", "Tue, 01 Jul 2025 10:00:00 GMT"),
        );
        let r = get(&c, &site.url("/own"), &[]).await;
        assert_eq!(r.etag.as_deref(), Some("\"v7\""));
        assert_eq!(
            r.last_modified.as_deref(),
            Some("Tue, 01 Jul 2025 10:00:00 GMT")
        );
        let ims = [("If-Modified-Since", "Wed, 02 Jul 2025 00:00:00 GMT")];
        assert_eq!(get(&c, &site.url("/own"), &ims).await.status, 304);
        let ims = [("If-Modified-Since", "Mon, 30 Jun 2025 00:00:00 GMT")];
        assert_eq!(get(&c, &site.url("/own"), &ims).await.status, 200);

        // Conditional support can be switched off.
        site.set("/plain", Response::html("p"));
        site.set_conditional("/plain", false);
        let r = get(&c, &site.url("/plain"), &[("If-None-Match", "*")]).await;
        assert_eq!(r.status, 200);
        assert!(r.etag.is_none() && r.last_modified.is_none());
    });
    assert_eq!(site.hits("/feed"), 3, "any query string");
    assert_eq!(site.hits("/feed?page=2"), 1);
    assert_eq!(site.requests_for("/busy")[0].status, 503);
    assert_eq!(site.requests()[0].status, 404);
}

#[test]
fn http_delay_causes_client_timeout_and_is_logged() {
    let site = FixtureSite::start();
    site.set("/slow", Response::html("slow"));
    site.set_delay("/slow", Duration::from_secs(2));
    rt().block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let t = Instant::now();
        let err = c.get(site.url("/slow")).send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(t.elapsed() < Duration::from_secs(2));

        site.clear_delay("/slow");
        let r = c.get(site.url("/slow")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    });
    assert_eq!(site.hits("/slow"), 2);
}

#[test]
fn http_raw_tcp_head_and_drop_does_not_hang() {
    let site = FixtureSite::start();
    site.set("/h", Response::text("hello"));
    let mut s = TcpStream::connect(("127.0.0.1", site.port())).unwrap();
    write!(
        s,
        "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.to_ascii_lowercase().contains("etag: \""), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "HEAD has no body: {out:?}");
    assert_eq!(site.requests()[0].method, "HEAD");

    // A request stuck in a long delay must not block drop.
    site.set_delay("/h", Duration::from_secs(60));
    let mut s = TcpStream::connect(("127.0.0.1", site.port())).unwrap();
    write!(s, "GET /h HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(site.wait_for_hits("/h", 2, Duration::from_secs(5)), 2);
    let t = Instant::now();
    drop(site);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        t.elapsed()
    );
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf); // EOF or reset, but no response
    assert!(buf.is_empty());
}

fn transport(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn message(subject: &str, to: &str) -> Message {
    message_with_id(subject, to, None)
}

/// `id: None` lets lettre generate a Message-ID.
fn message_with_id(subject: &str, to: &str, id: Option<&str>) -> Message {
    Message::builder()
        .message_id(id.map(str::to_string))
        .from(
            "Presswatch Alerts <alerts@presswatch.test>"
                .parse::<Mailbox>()
                .unwrap(),
        )
        .to(to.parse::<Mailbox>().unwrap())
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(
            "Änderung erkannt.\n.leading dot\n.\nend\n".to_string(),
            "<p>Änderung <b>erkannt</b></p>".to_string(),
        ))
        .unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn smtp_two_mails_arrive_and_parse() {
    let server = SmtpServer::start();
    assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
    let subject = "Änderung: Pressemitteilung — 5 € ✓";
    rt().block_on(async {
        let t = transport(&server);
        let m1 = message_with_id(
            subject,
            "Ed <editor@example.org>",
            Some("<first@presswatch.test>"),
        );
        t.send(m1).await.unwrap();
        // Let lettre's pool park the connection (it recycles in a spawned task).
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.send(message("second", "other@example.org"))
            .await
            .unwrap();
    });
    let msgs = server.wait_for(2, WAIT);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].mail_from, "alerts@presswatch.test");
    assert_eq!(msgs[0].rcpt_to, vec!["editor@example.org".to_string()]);
    assert_eq!(msgs[1].rcpt_to, vec!["other@example.org".to_string()]);
    assert_eq!(
        msgs[0].connection, msgs[1].connection,
        "pooled connection reused"
    );
    assert_eq!(server.connections(), 1);

    let p = msgs[0].parse();
    assert!(
        msgs[0].data_str().contains("=?utf-8?"),
        "subject is RFC 2047 encoded"
    );
    assert_eq!(p.subject, subject);
    assert_eq!(p.message_id.as_deref(), Some("first@presswatch.test"));
    assert_eq!(p.from, "alerts@presswatch.test");
    assert_eq!(p.from_name.as_deref(), Some("Presswatch Alerts"));
    assert_eq!(p.to, vec!["editor@example.org".to_string()]);
    assert!(p.is_multipart_alternative);
    assert_eq!(p.content_type, "multipart/alternative");
    assert_eq!(
        p.text.replace("\r\n", "\n"),
        "Änderung erkannt.\n.leading dot\n.\nend\n"
    );
    assert_eq!(p.html, "<p>Änderung <b>erkannt</b></p>");
    assert!(p.header("MIME-Version").is_some());

    let p2 = msgs[1].parse();
    assert_eq!(p2.subject, "second");
    assert!(p2.message_id.is_some(), "lettre generates one");

    let cmds = server.commands();
    assert!(cmds[0].starts_with("EHLO "), "{cmds:?}");
    assert_eq!(cmds.iter().filter(|c| c.as_str() == "DATA").count(), 2);
}

#[test]
fn smtp_451_then_250() {
    let server = SmtpServer::start();
    server.reply_to_data_with(vec![451, 250]);
    rt().block_on(async {
        let t = transport(&server);
        let err = t.send(message("one", "a@example.org")).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("try later"), "{err}");
        t.send(message("two", "a@example.org")).await.unwrap();
    });
    let msgs = server.wait_for(1, WAIT);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].parse().subject, "two");
    assert_eq!(server.data_attempts(), 2);
}

#[test]
fn smtp_550_permanent() {
    let server = SmtpServer::start();
    server.reply_to_data_with(vec![550]);
    rt().block_on(async {
        let t = transport(&server);
        let err = t.send(message("x", "a@example.org")).await.unwrap_err();
        assert!(err.is_permanent(), "{err}");
        // Queue exhausted: next one is accepted.
        t.send(message("y", "a@example.org")).await.unwrap();
    });
    let msgs = server.wait_for(1, WAIT);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].parse().subject, "y");
}

#[test]
fn smtp_refused_connection_then_success() {
    let server = SmtpServer::start();
    server.refuse_next_connections(1);
    server.reject_next_connections_with_421(1);
    rt().block_on(async {
        let t = transport(&server);
        assert!(t.send(message("1", "a@example.org")).await.is_err());
        let err = t.send(message("2", "a@example.org")).await.unwrap_err();
        assert!(err.is_transient(), "421 is transient: {err}");
        t.send(message("3", "a@example.org")).await.unwrap();
    });
    let msgs = server.wait_for(1, WAIT);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].parse().subject, "3");
    assert_eq!(server.connections(), 3);
}

#[test]
fn smtp_auth_plain_and_login() {
    let server = SmtpServer::with_auth("bot", "s3cret");
    rt().block_on(async {
        for mech in [Mechanism::Plain, Mechanism::Login] {
            let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(server.port())
                .credentials(Credentials::new("bot".into(), "s3cret".into()))
                .authentication(vec![mech])
                .pool_config(PoolConfig::new().max_size(1))
                .build();
            t.send(message("auth", "a@example.org")).await.unwrap();
        }
        let bad = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(server.port())
            .credentials(Credentials::new("bot".into(), "wrong".into()))
            .build();
        assert!(bad.send(message("bad", "a@example.org")).await.is_err());
        let anon = transport(&server);
        let err = anon
            .send(message("anon", "a@example.org"))
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "530 expected: {err}");
    });
    let msgs = server.wait_for(2, WAIT);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| m.auth_user.as_deref() == Some("bot")));
    assert_eq!(
        server.auths(),
        vec![("bot".to_string(), "s3cret".to_string()); 2]
    );
    assert_eq!(
        server.failed_auths(),
        vec![("bot".to_string(), "wrong".to_string())]
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.messages().len(), 2);
}

/// Drive the protocol by hand: HELO, RSET, NOOP, two messages on one
/// connection, dot-stuffing, pipelined commands, QUIT.
#[test]
fn smtp_raw_session() {
    let server = SmtpServer::start();
    let s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut expect = |code: &str| {
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with(code), "expected {code}, got {line:?}");
            if line.as_bytes().get(3) == Some(&b' ') {
                return line;
            }
        }
    };
    expect("220");
    w.write_all(b"MAIL FROM:<a@x>\r\n").unwrap();
    expect("503");
    w.write_all(b"HELO client\r\n").unwrap();
    expect("250");
    w.write_all(b"NOOP\r\n").unwrap();
    expect("250");
    w.write_all(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRSET\r\n")
        .unwrap();
    expect("250");
    expect("250");
    expect("250");
    w.write_all(b"DATA\r\n").unwrap();
    expect("503");
    for i in 0..2 {
        w.write_all(b"MAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n")
            .unwrap();
        expect("250");
        expect("250");
        expect("250");
        expect("354");
        write!(w, "Subject: raw {i}\r\n\r\n..dot\r\n.\r\n").unwrap();
        expect("250");
    }
    w.write_all(b"FOO\r\nQUIT\r\n").unwrap();
    expect("500");
    expect("221");
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].mail_from, "");
    assert_eq!(msgs[1].rcpt_to, vec!["b@y".to_string(), "c@y".to_string()]);
    assert_eq!(msgs[1].data, b"Subject: raw 1\r\n\r\n.dot\r\n");
    let p = msgs[1].parse();
    assert_eq!(p.subject, "raw 1");
    assert!(!p.is_multipart_alternative);
    assert_eq!(p.text.trim_end(), ".dot");
}

#[test]
fn temp_state_and_bin_path() {
    let st = common::TempState::new();
    let cfg = st.write_config("[x]\ny = 1\n");
    assert_eq!(cfg, st.path().join("config.toml"));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "[x]\ny = 1\n");
    let nested = st.write_file("a/b.txt", "z");
    assert!(nested.is_file());
    assert!(common::bin().ends_with(format!("presswatch{}", std::env::consts::EXE_SUFFIX)));
    let dir = st.path().to_path_buf();
    drop(st);
    assert!(!dir.exists());
}
