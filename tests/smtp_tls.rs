//! Delivery over TLS, through the real binary: STARTTLS (`smtp://...?tls=required`), implicit
//! TLS (`smtps://`), AUTH over TLS with the credentials from the environment, and the failures a
//! person meets first (an untrusted certificate, a server without STARTTLS). The test server's
//! certificate is signed by a CA made for the test; `[email] ca_file` trusts it.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::http::{FixtureSite, Response};
use common::smtp::{ReceivedMail, SmtpServer, TlsMode};
use common::{Instance, command, output_text};

const WAIT: Duration = Duration::from_secs(10);
const USER: &str = "presswatch-bot";
/// Distinctive, so that finding it anywhere is a leak and not a coincidence.
const PASSWORD: &str = "pw-Zq8!Tls-s3cret-7c41e";
const WRONG_PASSWORD: &str = "pw-Wr0ng-Tls-s3cret-19ab";

/// An installation mailing through `smtp_url`; with `ca`, that PEM is written to `ca.pem` in
/// the state directory and set as `[email] ca_file`. `sources` is TOML of `[[sources]]` tables.
fn instance(smtp_url: &str, ca: Option<&str>, sources: &str) -> Instance {
    let pw = Instance::new(|db| {
        let dir = db.parent().and_then(Path::parent).expect("state directory");
        let ca_line = match ca {
            Some(_) => format!("ca_file = \"{}\"\n", dir.join("ca.pem").display()),
            None => String::new(),
        };
        format!(
            "database = \"{}\"\nalert_on_first_run = true\n\
             [fetch]\nper_host_interval_ms = 0\ntimeout_secs = 5\nrespect_robots = false\n\
             [email]\nto = [\"alerts@example.org\"]\nsmtp = \"{smtp_url}\"\nretry_secs = 0\n{ca_line}\n{sources}",
            db.display(),
        )
    });
    if let Some(pem) = ca {
        pw.state.write_file("ca.pem", pem);
    }
    pw
}

/// `presswatch --config CONFIG ARGS...` with `env` set and no SMTP credentials inherited.
fn run_with(pw: &Instance, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.arg("--config")
        .arg(&pw.config)
        .args(args)
        .current_dir(pw.state.path())
        .env_remove("PRESSWATCH_SMTP_USER")
        .env_remove("PRESSWATCH_SMTP_PASSWORD")
        .env_remove("PRESSWATCH_EMAIL_CA_FILE")
        .env_remove("PRESSWATCH_EMAIL_SMTP");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run presswatch")
}

fn test_email(pw: &Instance, env: &[(&str, &str)]) -> Output {
    run_with(pw, &["test-email"], env)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One error line on stderr, which must contain every one of `needles`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    assert!(!out.status.success(), "{}", output_text(out));
    let err = stderr(out);
    assert_eq!(err.trim().lines().count(), 1, "{}", output_text(out));
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

/// Index of the first command starting with `verb`.
fn first(commands: &[String], verb: &str) -> Option<usize> {
    commands
        .iter()
        .position(|c| c.to_ascii_uppercase().starts_with(verb))
}

fn site_with_statement() -> (FixtureSite, String) {
    let site = FixtureSite::start();
    site.set(
        "/statement",
        Response::html(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Safe pathways | Agency</title></head>\
             <body><main><article><h1>Safe pathways for migrant workers</h1>\
             <p>GENEVA – The agency today called on governments to expand safe and regular pathways for migrant workers and their families.</p>\
             <p>Labour mobility, recognised skills and protected rights at every stage make migration work for everyone involved.</p>\
             <p>For more information please contact the media office.</p></article></main></body></html>",
        ),
    );
    let sources = format!(
        "[[sources]]\nname = \"agency\"\nkind = \"page\"\nurl = \"{}/statement\"\n",
        site.base_url()
    );
    (site, sources)
}

fn outbox(pw: &Instance) -> Vec<serde_json::Value> {
    let out = run_with(pw, &["outbox", "--json"], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("outbox --json prints JSON lines"))
        .collect()
}

#[test]
fn starttls_required_upgrades_before_anything_else() {
    let smtp = SmtpServer::start_tls(TlsMode::StartTls);
    let (_site, sources) = site_with_statement();
    let url = format!("smtp://localhost:{}?tls=required", smtp.port());
    let pw = instance(&url, Some(smtp.ca_pem()), &sources);

    let out = test_email(&pw, &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    let mails = smtp.wait_for(1, WAIT);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].parse().subject, "[presswatch] Test mail");
    assert!(mails[0].tls, "the mail came over TLS");

    // An alert from a check goes the same way.
    let out = run_with(&pw, &["check"], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    let mails = smtp.wait_for(2, WAIT);
    assert_eq!(mails.len(), 2, "{}", output_text(&out));
    assert!(
        mails[1].parse().subject.starts_with("[presswatch] New: "),
        "{:?}",
        mails[1].parse().subject
    );
    assert!(mails[1].tls);

    // On every connection STARTTLS came first, and EHLO was said again over TLS.
    let commands = smtp.commands();
    let starttls = first(&commands, "STARTTLS").expect("STARTTLS sent");
    let mail = first(&commands, "MAIL").expect("MAIL sent");
    assert!(starttls < mail, "{commands:?}");
    assert!(
        commands[starttls + 1]
            .to_ascii_uppercase()
            .starts_with("EHLO"),
        "{commands:?}"
    );
    assert_eq!(
        commands.iter().filter(|c| *c == "STARTTLS").count(),
        commands
            .iter()
            .filter(|c| c.to_ascii_uppercase().starts_with("MAIL"))
            .count(),
        "one STARTTLS per transaction's connection: {commands:?}"
    );
    assert!(smtp.tls_handshakes() >= 2);
    assert!(smtp.tls_failures().is_empty(), "{:?}", smtp.tls_failures());
}

#[test]
fn smtps_is_tls_from_the_first_byte() {
    let smtp = SmtpServer::start_tls(TlsMode::Implicit);
    let (out, mail) = trusted_test_mail(&smtp, &tls_url(TlsMode::Implicit, smtp.port()));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("localhost:{}", smtp.port())),
        "{}",
        output_text(&out)
    );
    assert_eq!(mail.parse().subject, "[presswatch] Test mail");
    assert!(mail.tls);
    assert_eq!(smtp.tls_handshakes(), 1);
    assert!(!smtp.commands().iter().any(|c| c == "STARTTLS"));
}

#[test]
fn auth_over_tls_with_credentials_from_the_environment_never_leaks_the_password() {
    let smtp = SmtpServer::with_auth_tls(TlsMode::StartTls, USER, PASSWORD);
    let (_site, sources) = site_with_statement();
    let url = format!("smtp://localhost:{}?tls=required", smtp.port());
    let pw = instance(&url, Some(smtp.ca_pem()), &sources);
    let mut outputs = Vec::new();

    // A wrong password first: refused, said on one line, the alert waits.
    let wrong = [
        ("PRESSWATCH_SMTP_USER", USER),
        ("PRESSWATCH_SMTP_PASSWORD", WRONG_PASSWORD),
        ("PRESSWATCH_LOG", "trace"),
    ];
    let out = run_with(&pw, &["check"], &wrong);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        stderr(&out).contains("authentication rejected"),
        "{}",
        output_text(&out)
    );
    outputs.push(out);
    let out = test_email(&pw, &wrong);
    assert!(!out.status.success(), "{}", output_text(&out));
    outputs.push(out);
    // Without PRESSWATCH_LOG (trace adds rustls' own lines): one line.
    let out = test_email(&pw, &wrong[..2]);
    assert_one_line_error(&out, &["authentication rejected", "535"]);
    outputs.push(out);
    assert_eq!(
        smtp.failed_auths(),
        vec![(USER.to_string(), WRONG_PASSWORD.to_string()); 3]
    );
    assert!(smtp.messages().is_empty());
    let rows = outbox(&pw);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "pending", "{rows:?}");

    // The right one: the test mail and the waiting alert go, authenticated, over TLS.
    let right = [
        ("PRESSWATCH_SMTP_USER", USER),
        ("PRESSWATCH_SMTP_PASSWORD", PASSWORD),
        ("PRESSWATCH_LOG", "trace"),
    ];
    let out = test_email(&pw, &right);
    assert!(out.status.success(), "{}", output_text(&out));
    outputs.push(out);
    let out = run_with(&pw, &["check"], &right);
    assert!(out.status.success(), "{}", output_text(&out));
    outputs.push(out);
    let mails = smtp.wait_for(2, WAIT);
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert_eq!(m.auth_user.as_deref(), Some(USER));
        assert!(m.tls);
    }
    assert_eq!(
        smtp.auths(),
        vec![
            (USER.to_string(), PASSWORD.to_string()),
            (USER.to_string(), PASSWORD.to_string())
        ]
    );
    let commands = smtp.commands();
    let auth = first(&commands, "AUTH").expect("AUTH sent");
    assert!(
        first(&commands, "STARTTLS").is_some_and(|s| s < auth),
        "{commands:?}"
    );
    let rows = outbox(&pw);
    assert_eq!(rows[0]["status"], "sent", "{rows:?}");

    // Neither password in anything presswatch printed, nor in any file it keeps.
    for cmd in [&["outbox", "--json"][..], &["log"], &["sources"]] {
        outputs.push(run_with(&pw, cmd, &right));
    }
    for out in &outputs {
        for secret in [PASSWORD, WRONG_PASSWORD] {
            let text = output_text(out);
            assert!(!text.contains(secret), "password printed:\n{text}");
        }
    }
    let mut files = 0;
    let mut dirs = vec![pw.state.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read state dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read state file");
            for secret in [PASSWORD, WRONG_PASSWORD] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "password stored in {}",
                    path.display()
                );
            }
            files += 1;
        }
    }
    assert!(pw.db().exists() && files >= 2, "the database was checked");
}

#[test]
fn an_untrusted_certificate_is_refused() {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let smtp = SmtpServer::start_tls(mode);
        let url = tls_url(mode, smtp.port());
        // No ca_file: the test CA is nobody's root.
        let pw = instance(&url, None, "");
        let out = test_email(&pw, &[]);
        assert_one_line_error(
            &out,
            &[&format!("localhost:{}", smtp.port()), "certificate"],
        );
        assert!(smtp.messages().is_empty());
        assert!(
            first(&smtp.commands(), "MAIL").is_none(),
            "{mode:?}: {:?}",
            smtp.commands()
        );
        assert_eq!(smtp.tls_handshakes(), 0, "{mode:?}");

        // The same server with its CA in ca_file is fine.
        trusted_test_mail(&smtp, &url);
    }
}

/// lettre reports a refused certificate as a connection error ("Connection error: invalid
/// peer certificate: UnknownIssuer"), not `is_tls()`; the one-line error still says TLS.
#[test]
fn an_untrusted_certificate_error_says_tls() {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let smtp = SmtpServer::start_tls(mode);
        let pw = instance(&tls_url(mode, smtp.port()), None, "");
        let out = test_email(&pw, &[]);
        assert_one_line_error(&out, &["TLS", "certificate"]);
    }
}

/// `test-email` through `url` to `smtp`, with its test CA as `[email] ca_file`: it succeeds
/// and exactly one mail arrives (returned with the command's output).
fn trusted_test_mail(smtp: &SmtpServer, url: &str) -> (Output, ReceivedMail) {
    let pw = instance(url, Some(smtp.ca_pem()), "");
    let out = test_email(&pw, &[]);
    assert!(out.status.success(), "{url}: {}", output_text(&out));
    let mut mails = smtp.wait_for(1, WAIT);
    assert_eq!(mails.len(), 1, "{url}");
    let mail = mails.remove(0);
    (out, mail)
}

fn tls_url(mode: TlsMode, port: u16) -> String {
    match mode {
        TlsMode::StartTls => format!("smtp://localhost:{port}?tls=required"),
        TlsMode::Implicit => format!("smtps://localhost:{port}"),
    }
}

#[test]
fn tls_required_against_a_server_without_starttls_fails_and_the_alert_waits() {
    let smtp = SmtpServer::start();
    let (_site, sources) = site_with_statement();
    let url = format!("smtp://localhost:{}?tls=required", smtp.port());
    let pw = instance(&url, None, &sources);

    let out = test_email(&pw, &[]);
    assert_one_line_error(&out, &["STARTTLS", &format!("localhost:{}", smtp.port())]);

    let out = run_with(&pw, &["check"], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(stderr(&out).contains("STARTTLS"), "{}", output_text(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert!(smtp.messages().is_empty());
    assert!(
        first(&smtp.commands(), "MAIL").is_none(),
        "{:?}",
        smtp.commands()
    );
    let rows = outbox(&pw);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "pending", "{rows:?}");
    assert!(
        rows[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("STARTTLS"),
        "{rows:?}"
    );
}

#[test]
fn plain_smtp_with_a_ca_file_upgrades_when_starttls_is_offered() {
    let smtp = SmtpServer::start_tls(TlsMode::StartTls);
    let (_, mail) = trusted_test_mail(&smtp, &format!("smtp://localhost:{}", smtp.port()));
    assert!(mail.tls, "{:?}", smtp.commands());
}

#[test]
fn a_bad_ca_file_is_a_one_line_config_error_naming_it() {
    let smtp = SmtpServer::start_tls(TlsMode::Implicit);
    let url = format!("smtps://localhost:{}", smtp.port());
    // Missing.
    let pw = instance(&url, None, "");
    let missing = pw.state.join("no-such-ca.pem");
    let out = test_email(
        &pw,
        &[(
            "PRESSWATCH_EMAIL_CA_FILE",
            missing.to_str().expect("utf-8 path"),
        )],
    );
    assert_one_line_error(
        &out,
        &["PRESSWATCH_EMAIL_CA_FILE", "no-such-ca.pem", "cannot read"],
    );
    // Not a certificate, and a garbled one: named with the config line.
    for (pem, why) in [
        ("hello\n".to_string(), "no PEM certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
            "invalid",
        ),
    ] {
        let pw = instance(&url, Some(&pem), "");
        let out = test_email(&pw, &[]);
        assert_one_line_error(&out, &["config.toml:", "email.ca_file", "ca.pem", why]);
    }
    assert_eq!(smtp.connections(), 0);
}
