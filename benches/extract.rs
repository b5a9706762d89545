//! Extraction speed over real article pages (`cargo bench --bench extract`).
//!
//! Pages (`*.html.gz`) come from `$PRESSWATCH_BENCH_PAGES` when set, else
//! the 93-page dev set at `/work/shared/extraction/dev/html` when present,
//! else the 11 pages bundled in `benches/pages/` (a copy of dev-set pages,
//! so the bench runs from a clean clone). What is timed per page is
//! `decode_html` + `extract_for_source` on the raw bytes (gunzip excluded),
//! on one core.
//!
//! Before the criterion benches, a summary line is printed:
//! `SUMMARY pages N median_ms M mean_ms A pages_per_s P` (median over pages
//! of each page's median of several runs); `scripts/bench-extract.sh` parses
//! it to compare with trafilatura.

// The same allocator as the `presswatch` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use presswatch::extract;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEV_SET: &str = "/work/shared/extraction/dev/html";

struct Page {
    name: String,
    bytes: Vec<u8>,
}

fn pages_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PRESSWATCH_BENCH_PAGES") {
        return PathBuf::from(dir);
    }
    if Path::new(DEV_SET).is_dir() {
        return PathBuf::from(DEV_SET);
    }
    eprintln!("note: {DEV_SET} not found; benchmarking the pages bundled in benches/pages");
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/pages")
}

fn load_pages() -> Vec<Page> {
    let dir = pages_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping extract bench: cannot read {}", dir.display());
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".html.gz"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let gz = std::fs::read(&path).ok()?;
            let mut bytes = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut bytes)
                .ok()?;
            let name = path.file_name()?.to_string_lossy();
            Some(Page {
                name: name.chars().take(12).collect(),
                bytes,
            })
        })
        .collect()
}

fn run(page: &Page, url: &url::Url) -> usize {
    let html = extract::decode_html(&page.bytes, Some("text/html"));
    extract::extract_for_source(&html, url, None, None).map_or(0, |a| a.body.len())
}

/// Median of 9 runs per page (after one warm-up), then median over pages.
fn summary(pages: &[Page], url: &url::Url) {
    let mut per_page: Vec<Duration> = pages
        .iter()
        .map(|p| {
            black_box(run(p, url));
            let mut runs: Vec<Duration> = (0..9)
                .map(|_| {
                    let t = Instant::now();
                    black_box(run(p, url));
                    t.elapsed()
                })
                .collect();
            runs.sort();
            runs[runs.len() / 2]
        })
        .collect();
    let total: Duration = per_page.iter().sum();
    per_page.sort();
    let median = per_page[per_page.len() / 2];
    let mean = total / per_page.len() as u32;
    println!(
        "SUMMARY pages {} median_ms {:.3} mean_ms {:.3} max_ms {:.3} pages_per_s {:.1}",
        pages.len(),
        median.as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        per_page[per_page.len() - 1].as_secs_f64() * 1e3,
        pages.len() as f64 / total.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    presswatch::util::tune_allocator();
    let pages = load_pages();
    if pages.is_empty() {
        eprintln!("skipping extract bench: no *.html.gz pages found");
        return;
    }
    let url = url::Url::parse("https://example.org/news/article").expect("static url");
    summary(&pages, &url);

    let mut all = c.benchmark_group("extract");
    all.throughput(Throughput::Elements(pages.len() as u64));
    all.sample_size(10);
    all.bench_function("all_pages", |b| {
        b.iter(|| pages.iter().map(|p| run(p, &url)).sum::<usize>())
    });
    all.finish();

    // A few single pages (smallest, median, largest by size) for detail.
    let mut by_size: Vec<&Page> = pages.iter().collect();
    by_size.sort_by_key(|p| p.bytes.len());
    let picks = [0, by_size.len() / 2, by_size.len() - 1];
    let mut single = c.benchmark_group("extract_page");
    single.sample_size(20);
    for i in picks {
        let p = by_size[i];
        let id = format!("{}_{}kB", p.name, p.bytes.len() / 1024);
        single.bench_with_input(BenchmarkId::from_parameter(id), p, |b, p| {
            b.iter(|| run(p, &url))
        });
    }
    single.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
