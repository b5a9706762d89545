//! The `presswatch` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};

use presswatch::check::{self, Context, CycleOptions};
use presswatch::config::{self, Config};
use presswatch::store::{ChangeKind, LogFilter, Store};
use presswatch::{diff, extract, schedule, util};

// Parsing a page allocates many small nodes and strings; mimalloc makes
// extraction about 7% faster than the system allocator (benches/extract.rs).
// Built with `no_thp`: transparent huge pages cost 8 MB of idle RSS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "presswatch",
    version,
    about = "Watches press statements and emails what changed"
)]
struct Cli {
    /// Config file.
    #[arg(long, global = true, env = "PRESSWATCH_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    New,
    Changed,
    Removed,
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Queue a failed alert (or, with --all, every failed alert) for delivery now.
    Retry {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: check cycles on the configured schedule, deliver alerts.
    Run,
    /// Run one check cycle now, deliver its alerts, and exit.
    Check {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Check every tracked page now, whatever its revisit schedule.
        #[arg(long)]
        all: bool,
    },
    /// The change log, newest first.
    Log {
        /// Only changes detected on or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        #[arg(long)]
        limit: Option<usize>,
        /// Also list the silent baseline of each source's first cycle.
        #[arg(long)]
        baseline: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a stored version of a statement (the latest by default).
    Show {
        url: String,
        #[arg(long)]
        version: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Word-level diff of two stored versions (default: the last two).
    Diff {
        url: String,
        #[arg(long)]
        from: Option<i64>,
        #[arg(long)]
        to: Option<i64>,
    },
    /// Run the extractor on one page (a file or a URL) without storing anything.
    Extract {
        /// An HTML file, or an http(s) URL to fetch.
        target: String,
        /// The page's URL, for a file (selects the site profile, resolves links).
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Configured sources: pages tracked, last check and status.
    Sources {
        /// List every tracked page with when it is next due.
        #[arg(long)]
        pages: bool,
        /// With --pages: only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// The alert outbox: list it, or queue failed alerts again.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
        /// How many alerts to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Send a test mail through the configured transport and say what happened.
    TestEmail,
    /// Re-extract the stored versions from their raw HTML with this presswatch's extractor.
    Reextract {
        #[arg(long)]
        source: Option<String>,
    },
    /// Ask the running daemon's /healthz (for a container HEALTHCHECK): exit 0 when healthy.
    Healthcheck,
}

fn main() -> ExitCode {
    util::tune_allocator();
    // The parsing pool (one thread per core), named for `top -H` and profilers. Building it
    // can only fail if it already exists.
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("presswatch-parse-{i}"))
        .build_global();
    let cli = Cli::parse();
    init_logging(&cli);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("presswatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                msg.push_str(": ");
                msg.push_str(&cause.to_string());
            }
            eprintln!("presswatch: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Run => "info",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRESSWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Exit code 2: the configuration is wrong.
const CONFIG_ERROR: u8 = 2;

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|e| {
        eprintln!("presswatch: config error: {e}");
        ExitCode::from(CONFIG_ERROR)
    })
}

fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&cfg.database)?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = match &cli.command {
        Command::Extract { .. } => None,
        _ => match load_config(&cli.config) {
            Ok(c) => Some(c),
            Err(code) => return Ok(code),
        },
    };
    match (cli.command, cfg) {
        (Command::Extract { target, url, json }, _) => {
            cmd_extract(&target, url.as_deref(), json).await
        }
        (Command::Run, Some(cfg)) => {
            warn_no_recipients(&cfg);
            let ctx = Context::open(cfg)?;
            schedule::run_daemon(ctx).await?;
            Ok(ExitCode::SUCCESS)
        }
        (Command::Check { source, all }, Some(cfg)) => {
            if let Some(name) = &source
                && !cfg.sources.iter().any(|s| &s.name == name)
            {
                eprintln!(
                    "presswatch: config error: {}: no source named {name:?}",
                    cfg.path.display()
                );
                return Ok(ExitCode::from(CONFIG_ERROR));
            }
            warn_no_recipients(&cfg);
            let ctx = std::sync::Arc::new(Context::open(cfg)?);
            let ctrl = ctx.shutdown.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    ctrl.cancel();
                }
            });
            let report = check::run_cycle(&ctx, &CycleOptions { source, all }).await;
            for f in &report.failures {
                eprintln!("presswatch: failed: {f}");
            }
            let delivery = check::deliver(&ctx).await;
            for e in &delivery.errors {
                eprintln!("presswatch: alert not delivered: {e}");
            }
            println!(
                "checked {} pages from {} sources: {} new, {} changed, {} removed, {} unchanged, {} failed; alerts: {} sent, {} to retry, {} failed ({})",
                report.pages_checked,
                report.sources,
                report.new,
                report.changed,
                report.removed,
                report.unchanged,
                report.failed,
                delivery.sent,
                delivery.retrying,
                delivery.failed,
                ctx.transport.describe()
            );
            Ok(ExitCode::SUCCESS)
        }
        (
            Command::Log {
                since,
                source,
                kind,
                limit,
                baseline,
                json,
            },
            Some(cfg),
        ) => {
            let since = since.map(|s| parse_since(&s)).transpose()?;
            let store = open_store(&cfg)?;
            let rows = store.changes(&LogFilter {
                since,
                source,
                kind: kind.map(|k| match k {
                    Kind::New => ChangeKind::New,
                    Kind::Changed => ChangeKind::Changed,
                    Kind::Removed => ChangeKind::Removed,
                }),
                limit,
                include_baseline: baseline,
            })?;
            let mut out = std::io::stdout().lock();
            for r in rows {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&r)?)?;
                } else {
                    let versions = match (r.from_version, r.to_version) {
                        (Some(a), Some(b)) => format!("v{a}\u{2192}v{b}"),
                        (None, Some(b)) => format!("v{b}"),
                        (Some(a), None) => format!("was v{a}"),
                        (None, None) => String::new(),
                    };
                    writeln!(
                        out,
                        "#{:<5} {}  {:<7}  +{}/-{} words  {}  {}\n       {}  [{}]",
                        r.id,
                        r.detected_at,
                        r.kind.as_str(),
                        r.words_added,
                        r.words_removed,
                        versions,
                        r.title,
                        r.url,
                        r.source
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        (Command::Show { url, version, json }, Some(cfg)) => {
            let store = open_store(&cfg)?;
            let page = find_page(&store, &url)?;
            let Some(v) = store.version(page.id, version)? else {
                bail!(
                    "{}: no version {} stored",
                    page.url,
                    version.map(|n| n.to_string()).unwrap_or_default()
                );
            };
            if json {
                let obj = serde_json::json!({
                    "url": v.url, "version": v.version, "title": v.title,
                    "published": v.published, "body": v.body, "fetched_at": v.fetched_at,
                });
                println!("{obj}");
            } else {
                println!("{}", v.title);
                if let Some(p) = &v.published {
                    println!("Published: {p}");
                }
                println!(
                    "{}  (version {}, fetched {})\n",
                    v.url, v.version, v.fetched_at
                );
                println!("{}", v.body);
            }
            Ok(ExitCode::SUCCESS)
        }
        (Command::Diff { url, from, to }, Some(cfg)) => {
            let store = open_store(&cfg)?;
            let page = find_page(&store, &url)?;
            let latest = store
                .version(page.id, None)?
                .with_context(|| format!("{}: no version stored yet", page.url))?;
            let to = to.unwrap_or(latest.version);
            let from = from.unwrap_or(to - 1);
            let (Some(a), Some(b)) = (
                store.version(page.id, Some(from))?,
                store.version(page.id, Some(to))?,
            ) else {
                bail!(
                    "{}: versions {from} and {to} are not both stored (latest is {})",
                    page.url,
                    latest.version
                );
            };
            let d = diff::diff(
                &util::statement_text(&a.title, &a.body),
                &util::statement_text(&b.title, &b.body),
                1,
            );
            println!(
                "{}\nversion {} ({}) \u{2192} version {} ({}): +{} / -{} words\n",
                page.url,
                a.version,
                a.fetched_at,
                b.version,
                b.fetched_at,
                d.words_added,
                d.words_removed
            );
            if d.hunks.is_empty() {
                println!("(no word changed)");
            } else {
                println!("{}", diff::render_text(&d));
            }
            Ok(ExitCode::SUCCESS)
        }
        (
            Command::Sources {
                pages: true,
                source,
            },
            Some(cfg),
        ) => {
            let store = open_store(&cfg)?;
            println!("{:<24} {:<21} {:<10} URL", "SOURCE", "NEXT DUE", "LAST");
            for p in store.page_schedule(source.as_deref())? {
                println!(
                    "{:<24} {:<21} {:<10} {}{}",
                    p.source,
                    p.next_check_at.unwrap_or_else(|| "now".into()),
                    p.last_status.unwrap_or_else(|| "-".into()),
                    p.url,
                    p.last_error
                        .map(|e| format!("\n{:57}{e}", ""))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        (Command::Sources { .. }, Some(cfg)) => {
            let store = open_store(&cfg)?;
            let summaries = store.source_summaries()?;
            println!(
                "{:<24} {:<8} {:>6} {:>8} {:>8}  {:<21} STATUS",
                "SOURCE", "KIND", "PAGES", "REMOVED", "FAILING", "LAST CHECK"
            );
            for s in &cfg.sources {
                let sum = summaries.iter().find(|x| x.name == s.name);
                let status = match sum {
                    Some(x) => match &x.last_error {
                        Some(e) => format!("{}: {e}", x.last_status.as_deref().unwrap_or("?")),
                        None => x.last_status.clone().unwrap_or_default(),
                    },
                    None => "never checked".into(),
                };
                println!(
                    "{:<24} {:<8} {:>6} {:>8} {:>8}  {:<21} {}",
                    s.name,
                    s.kind.as_str(),
                    sum.map(|x| x.pages).unwrap_or(0),
                    sum.map(|x| x.removed).unwrap_or(0),
                    sum.map(|x| x.failing).unwrap_or(0),
                    sum.and_then(|x| x.last_check_at.clone())
                        .unwrap_or_else(|| "-".into()),
                    status
                );
            }
            let now = util::now_rfc3339();
            for h in store.host_statuses()? {
                match &h.paused_until {
                    Some(until) if until.as_str() > now.as_str() => println!(
                        "\nhost {} paused until {}: {}",
                        h.host,
                        until,
                        h.reason.as_deref().unwrap_or("")
                    ),
                    _ if h.consecutive_failures > 0 => println!(
                        "\nhost {}: {} failures in a row (paused at {})",
                        h.host,
                        h.consecutive_failures,
                        presswatch::fetch::BREAKER_FAILURES
                    ),
                    _ => {}
                }
            }
            let counts = store.outbox_counts()?;
            println!(
                "\nalerts: {} pending, {} failed, {} sent",
                counts.pending, counts.failed, counts.sent
            );
            Ok(ExitCode::SUCCESS)
        }
        (Command::Healthcheck, Some(cfg)) => match presswatch::web::healthcheck(&cfg.web).await {
            Ok(status) => {
                println!("{status}");
                Ok(ExitCode::SUCCESS)
            }
            Err(reason) => {
                eprintln!("presswatch: unhealthy: {reason}");
                Ok(ExitCode::FAILURE)
            }
        },
        (
            Command::Outbox {
                action,
                limit,
                json,
            },
            Some(cfg),
        ) => {
            let store = open_store(&cfg)?;
            if let Some(OutboxAction::Retry { id, all }) = action {
                if id.is_none() && !all {
                    bail!("outbox retry: give an alert ID or --all");
                }
                let n = store.retry_alerts(id, &util::now_rfc3339())?;
                if n == 0 {
                    bail!(
                        "outbox retry: no alert to retry{}",
                        id.map(|i| format!(" with ID {i}")).unwrap_or_default()
                    );
                }
                println!(
                    "{n} alert(s) queued; they go out with the next delivery (`presswatch check` or the running daemon)"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::stdout().lock();
            for e in store.outbox(limit)? {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&e)?)?;
                } else {
                    let when = match e.status.as_str() {
                        "sent" => e.sent_at.clone().unwrap_or_default(),
                        _ => format!("next {}", e.next_attempt_at),
                    };
                    writeln!(
                        out,
                        "#{:<5} {:<7} {:<8} tries {}  {}  {}  {}{}",
                        e.id,
                        e.status,
                        e.kind,
                        e.attempts,
                        when,
                        e.url,
                        e.recipients.join(","),
                        e.last_error
                            .map(|x| format!("\n       last error: {x}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        (Command::Reextract { source }, Some(cfg)) => {
            let store = open_store(&cfg)?;
            let r = check::reextract(&store, &cfg, source.as_deref());
            for e in &r.errors {
                eprintln!("presswatch: {e}");
            }
            println!(
                "re-extracted {} pages with extractor version {}: {} stored versions got a different text",
                r.pages,
                extract::EXTRACTOR_VERSION,
                r.versions_changed
            );
            Ok(if r.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        (Command::TestEmail, Some(cfg)) => {
            let state_dir = cfg
                .database
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let transport = presswatch::notify::Transport::from_config(&cfg.email, &state_dir)?;
            match presswatch::notify::send_test(&cfg.email, &transport).await {
                Ok(msg) => {
                    println!("{msg}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("presswatch: test mail not sent: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        (_, None) => unreachable!("every command but extract has a config"),
    }
}

fn warn_no_recipients(cfg: &Config) {
    if cfg.email.to.is_empty() {
        eprintln!(
            "presswatch: warning: {}: email.to is empty: changes are logged but no alert is sent",
            cfg.path.display()
        );
    }
}

fn find_page(store: &Store, url: &str) -> anyhow::Result<presswatch::store::Page> {
    let canonical = util::parse_canonical(url).with_context(|| format!("{url:?} is not a URL"))?;
    store.page_by_url(canonical.as_str())?.with_context(|| {
        format!("{canonical}: not a tracked page (see `presswatch log` for tracked URLs)")
    })
}

fn parse_since(s: &str) -> anyhow::Result<String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(util::rfc3339(t.with_timezone(&chrono::Utc)));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(format!("{d}T00:00:00Z"));
    }
    bail!("--since {s:?}: expected a date like 2026-11-23 or an RFC 3339 time")
}

async fn cmd_extract(target: &str, url: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let (html, page_url) = if target.starts_with("http://") || target.starts_with("https://") {
        let u = url::Url::parse(target).with_context(|| format!("{target:?} is not a URL"))?;
        let fetcher = presswatch::fetch::Fetcher::new(&config::FetchConfig::default())?;
        let f = match fetcher.get(&u, None).await? {
            presswatch::fetch::Outcome::Ok(f) => *f,
            presswatch::fetch::Outcome::Gone(s) => bail!("GET {u}: HTTP {s}"),
            presswatch::fetch::Outcome::NotModified => bail!("GET {u}: unexpected 304"),
        };
        (
            extract::decode_html(&f.body, f.content_type.as_deref()),
            f.final_url,
        )
    } else {
        let bytes = std::fs::read(target).with_context(|| format!("cannot read {target}"))?;
        let bytes = if target.ends_with(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .with_context(|| format!("{target}: bad gzip"))?;
            out
        } else {
            bytes
        };
        let u = match url {
            Some(u) => url::Url::parse(u).with_context(|| format!("--url {u:?} is not a URL"))?,
            None => url::Url::parse("http://localhost/").context("default URL")?,
        };
        (extract::decode_html(&bytes, None), u)
    };
    let article = extract::extract(&html, &page_url, None)
        .with_context(|| format!("{target}: extraction failed"))?;
    if json {
        let obj = serde_json::json!({
            "title": article.title, "published": article.published,
            "body": article.body, "profile": article.profile,
        });
        println!("{obj}");
    } else {
        println!("{}", article.title);
        if let Some(p) = &article.published {
            println!("Published: {p}");
        }
        println!("Profile: {}\n", article.profile);
        println!("{}", article.body);
    }
    Ok(ExitCode::SUCCESS)
}
