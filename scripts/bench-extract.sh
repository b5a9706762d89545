#!/usr/bin/env bash
# Extraction speed: presswatch (criterion bench binary, release) vs trafilatura
# (Python) on the same pages, one core each, in one run. Prints both medians
# and the ratio.
#
#   scripts/bench-extract.sh [PAGES_DIR]
#
# PAGES_DIR holds *.html.gz pages; default: the dev set
# (/work/shared/extraction/dev/html) when present, else benches/pages.
# Needs: cargo, python3 with trafilatura (`pip install trafilatura lxml_html_clean`).
# What is timed per page: for presswatch decode_html + extract_for_source,
# for trafilatura trafilatura.extract() on the same raw bytes (gunzip and
# file reading excluded for both); median of several runs per page, then the
# median over pages.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-}"
if [[ -z "$dir" ]]; then
    if [[ -d /work/shared/extraction/dev/html ]]; then
        dir=/work/shared/extraction/dev/html
    else
        dir=benches/pages
    fi
fi
dir="$(cd "$dir" && pwd)"
n=$(ls "$dir"/*.html.gz 2>/dev/null | wc -l)
[[ "$n" -gt 0 ]] || { echo "no *.html.gz pages in $dir" >&2; exit 1; }
echo "pages: $n from $dir"

python3 -c 'import trafilatura' 2>/dev/null || {
    echo "trafilatura missing: pip install trafilatura lxml_html_clean" >&2; exit 1; }

# Pin both to one CPU when taskset exists.
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

ours=$(PRESSWATCH_BENCH_PAGES="$dir" "${pin[@]}" cargo bench --quiet --bench extract -- \
    --noplot summary-only 2>/dev/null | grep '^SUMMARY' || true)
[[ -n "$ours" ]] || { echo "presswatch bench printed no SUMMARY line" >&2; exit 1; }
echo "presswatch : $ours"

theirs=$("${pin[@]}" python3 - "$dir" <<'PY'
import gzip, pathlib, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import logging; logging.disable(logging.CRITICAL)
import trafilatura
pages = [gzip.decompress(p.read_bytes()) for p in sorted(pathlib.Path(sys.argv[1]).glob("*.html.gz"))]
per_page = []
for raw in pages:
    trafilatura.extract(raw, include_comments=False)  # warm-up
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        trafilatura.extract(raw, include_comments=False)
        runs.append(time.perf_counter() - t)
    per_page.append(statistics.median(runs))
total = sum(per_page)
print("SUMMARY pages %d median_ms %.3f mean_ms %.3f max_ms %.3f pages_per_s %.1f" % (
    len(pages), statistics.median(per_page) * 1e3, total / len(pages) * 1e3,
    max(per_page) * 1e3, len(pages) / total))
PY
)
echo "trafilatura: $theirs"

field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
python3 - "$(field "$ours" median_ms)" "$(field "$theirs" median_ms)" \
    "$(field "$ours" pages_per_s)" "$(field "$theirs" pages_per_s)" <<'PY'
import sys
om, tm, op, tp = map(float, sys.argv[1:])
print(f"median per page: presswatch {om:.2f} ms, trafilatura {tm:.2f} ms -> {tm / om:.1f}x faster")
print(f"throughput     : presswatch {op:.0f} pages/s, trafilatura {tp:.1f} pages/s -> {op / tp:.1f}x")
PY
