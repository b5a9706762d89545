//! `presswatch run`: cycles on the cron schedule, mails alerts, stops cleanly on SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::http::{FixtureSite, Response};
use common::smtp::SmtpServer;
use common::{TempState, command};

const PAGE: &str = "<html><head><title>Daemon statement | Agency</title></head><body><nav><a href=\"/\">Home</a></nav>\
<article><h1>Daemon statement</h1><p>The agency today published a statement on the protection of migrant workers in the construction sector across the region.</p>\
<p>It calls on employers and governments to guarantee fair recruitment, decent housing and access to health care for every worker.</p></article></body></html>";

#[test]
fn daemon_runs_cycles_and_stops_on_sigterm() {
    let site = FixtureSite::start();
    let smtp = SmtpServer::start();
    let state = TempState::new();
    site.set("/statement", Response::html(PAGE));
    let config = state.write_config(&format!(
        "database = \"{}\"\nschedule = \"*/1 * * * * *\"\nalert_on_first_run = true\n\
         [fetch]\nper_host_interval_ms = 0\ntimeout_secs = 5\n\
         [email]\nto = [\"alerts@example.org\"]\nsmtp = \"{}\"\n\
         [[sources]]\nname = \"one\"\nkind = \"page\"\nurl = \"{}\"\n",
        state.join("state/presswatch.db").display(),
        smtp.url(),
        site.url("/statement"),
    ));
    let mut child = command()
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start daemon");

    // The first scheduled cycle finds the page (alerting on the first run): one New mail.
    let mails = smtp.wait_for(1, Duration::from_secs(20));
    assert_eq!(mails.len(), 1, "no alert from the daemon");
    assert_eq!(
        mails[0].parse().subject,
        "[presswatch] New: Daemon statement"
    );
    // Later cycles re-check the page.
    assert!(site.wait_for_hits("/statement", 3, Duration::from_secs(20)) >= 3);

    // A second presswatch on the same database refuses to start, saying why.
    let second = command()
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output()
        .expect("second");
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already running on"), "{err}");

    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(exit.success(), "exit {exit:?}\n{stderr}");
    assert!(stderr.contains("presswatch stopped"), "{stderr}");
    // Still exactly one mail: re-checks of an unchanged page never alert.
    assert_eq!(smtp.messages().len(), 1);
}
