//! Reusable integration-test harness for `presswatch`.
//!
//! Use from a test file with `mod common;`. Every item here is
//! `#[allow(dead_code)]` (via the inner attribute below) because each test
//! file only uses a subset of the harness.
#![allow(dead_code)]

pub mod http;
pub mod mail;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Environment variables that could route the binary's HTTP traffic through a
/// proxy instead of straight to the 127.0.0.1 fixtures. `command()` removes them.
const PROXY_ENV: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Path of the `presswatch` binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_presswatch"))
}

/// A `Command` for the binary. It sets no environment of its own; it only
/// removes proxy variables so that requests to the local fixtures go direct.
/// Add `.args()`, `.env()`, `.current_dir()` as needed.
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    for var in PROXY_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Run the binary with `args` to completion and capture its output.
pub fn run(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", bin().display()))
}

/// stdout and stderr of an `Output`, lossily decoded, for assertion messages.
/// `data` gzip-compressed, as a server sends it with `Content-Encoding: gzip`.
#[allow(dead_code)] // not every test binary compresses
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// `data` brotli-compressed (`Content-Encoding: br`).
#[allow(dead_code)]
pub fn brotli(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).expect("brotli");
    }
    out
}

pub fn output_text(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A throw-away state directory (config, database, ...) removed on drop.
pub struct TempState {
    dir: tempfile::TempDir,
}

impl TempState {
    pub fn new() -> TempState {
        TempState {
            dir: tempfile::Builder::new()
                .prefix("presswatch-test-")
                .tempdir()
                .expect("create temp dir"),
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path()/rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `toml` to `path()/config.toml` and return that path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        self.write_file("config.toml", toml)
    }

    /// Write `contents` to `path()/rel` (creating parent dirs) and return that path.
    pub fn write_file(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Default for TempState {
    fn default() -> Self {
        TempState::new()
    }
}

/// One presswatch installation under test: a temporary state directory holding its config
/// (and, by default, its database at `state/presswatch.db`), run through the real binary.
pub struct Instance {
    pub state: TempState,
    pub config: PathBuf,
}

impl Instance {
    /// `config` is given the database path to use and returns the config file's text.
    pub fn new(config: impl FnOnce(&Path) -> String) -> Instance {
        let state = TempState::new();
        let text = config(&state.join("state/presswatch.db"));
        let config = state.write_config(&text);
        Instance { state, config }
    }

    pub fn db(&self) -> PathBuf {
        self.state.join("state/presswatch.db")
    }

    /// `presswatch --config CONFIG ARGS...`, run in the state directory.
    pub fn run(&self, args: &[&str]) -> Output {
        command()
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.state.path())
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", bin().display()))
    }

    /// One `check` cycle, which must succeed.
    pub fn check(&self) -> Output {
        let out = self.run(&["check"]);
        assert!(out.status.success(), "check failed:\n{}", output_text(&out));
        out
    }

    /// A command printing one JSON object per line (`log --json`, `outbox --json`).
    pub fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.run(args);
        assert!(out.status.success(), "{}", output_text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// `show URL --json`.
    pub fn show_json(&self, url: &str) -> serde_json::Value {
        let out = self.run(&["show", url, "--json"]);
        assert!(out.status.success(), "{}", output_text(&out));
        serde_json::from_slice(&out.stdout).expect("show --json prints JSON")
    }
}
