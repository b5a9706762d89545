#!/usr/bin/env bash
# Cycle benchmark: presswatch vs urlwatch over the same 2,000 statement pages on loopback.
#
#   bash benches/cycle/run.sh            # build, generate, serve, measure, print the table
#
# Environment knobs:
#   PAGES=2000            statement pages in the fixture
#   CONCURRENCIES="32 8"  presswatch [fetch] concurrency values to measure (first one = headline)
#   REPEAT=3              runs of each (tool, cycle), from a fresh database/cache each time;
#                         the table shows medians (a 2-core machine shared with others is noisy)
#   URLWATCH=1            also measure urlwatch (0 to skip)
#   BUILD=1               cargo build --release first (0: use the existing binary)
#   PRESSWATCH_BIN=...    binary to measure (default target/release/presswatch)
#   DISCOVERY=auto        auto | listing | sitemap  (auto: paginated listing if the binary
#                         accepts `next`/`max_pages` on a listing source, else a sitemap)
#   KEEP=1                keep the temp dir (fixture, databases, logs) for inspection
#   QUIET_WAIT=90         seconds to wait before each run for other processes to go quiet
#   NICE=-10              run the measured commands (both tools alike) at this nice level
#                         (root only; use on a shared, busy machine; default: unset)
#   GZIP=1                serve pre-compressed pages (gzip_static), as real Drupal sites do
#
# Needs: python3, nginx (installed with apt-get if missing), /usr/bin/time (Debian `time`),
# urlwatch (pip install urlwatch). Writes nothing outside its temp dir except the cargo build.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PAGES=${PAGES:-2000}
REPEAT=${REPEAT:-3}
CONCURRENCIES=${CONCURRENCIES:-"32 8"}
URLWATCH=${URLWATCH:-1}
BUILD=${BUILD:-1}
DISCOVERY=${DISCOVERY:-auto}
GZIP=${GZIP:-1}
PW=${PRESSWATCH_BIN:-$ROOT/target/release/presswatch}

WORK=$(mktemp -d /tmp/presswatch-cycle-bench.XXXXXX)
NGINX_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- dependencies -------------------------------------------------------------------------
need_apt() {
    [[ $(id -u) == 0 ]] || die "$1 missing and not root: apt-get install -y $2"
    log "installing $2 (apt-get)"
    apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null 2>&1; } \
        || die "apt-get install $2 failed"
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$NGINX" ]] || { need_apt nginx nginx-light; NGINX=/usr/sbin/nginx; }
[[ -x /usr/bin/time ]] || need_apt /usr/bin/time time
if [[ "$URLWATCH" == 1 ]] && ! command -v urlwatch >/dev/null; then
    log "installing urlwatch (pip)"
    python3 -m pip install -q urlwatch >/dev/null 2>&1 || die "pip install urlwatch failed"
fi

# ---- build ----------------------------------------------------------------------------------
if [[ "$BUILD" == 1 ]]; then
    for attempt in 1 2 3 4 5; do
        if (cd "$ROOT" && cargo build --release --quiet 2>"$WORK/build.log"); then break; fi
        [[ $attempt == 5 ]] && { tail -20 "$WORK/build.log" >&2; die "cargo build --release failed 5 times"; }
        log "build failed (crate mid-edit?), retrying in 30 s"; sleep 30
    done
fi
[[ -x "$PW" ]] || die "no binary at $PW"
# A private copy: others may rebuild target/release while the benchmark runs.
cp "$PW" "$WORK/presswatch"; PW="$WORK/presswatch"

# ---- fixture + server ------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
log "generating $PAGES pages for $BASE"
python3 "$HERE/fixture_gen.py" "$WORK/fixture" --base "$BASE" --pages "$PAGES" $([[ "$GZIP" == 1 ]] || echo --no-gzip) >&2
chmod -R a+rX "$WORK"   # nginx workers may run as nobody when started by root

mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
$([[ $(id -u) == 0 ]] && echo "user root root;")
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 100000; keepalive_timeout 60s;
    client_body_temp_path $WORK/nginx/tmp/body; proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fcgi; uwsgi_temp_path $WORK/nginx/tmp/uwsgi; scgi_temp_path $WORK/nginx/tmp/scgi;
    gzip_static $([[ "$GZIP" == 1 ]] && echo on || echo off);
    charset utf-8;
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/fixture/www;
        location = /news { default_type text/html; try_files /listing/page-\$arg_page.html /listing/page-0.html; }
        location = /news/rss.xml { types { } default_type application/rss+xml; }
        location /news/ { types { } default_type text/html; }
        location = /sitemap.xml { }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx/error.log" &
NGINX_PID=$!
FIRST_URL=$(head -1 "$WORK/fixture/urls.txt")
for _ in $(seq 100); do curl -fs -o /dev/null "$FIRST_URL" && break; sleep 0.05; done
curl -fs -o /dev/null "$FIRST_URL" || { cat "$WORK/nginx/error.log" >&2; die "nginx did not start"; }
ETAG=$(curl -fsI -H 'Accept-Encoding: gzip' "$FIRST_URL" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' -H "If-None-Match: $ETAG" "$FIRST_URL")
[[ "$CODE" == 304 ]] || die "fixture server does not answer 304 to If-None-Match (got $CODE)"
CODE=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/news?page=99")
[[ "$CODE" == 200 ]] || die "listing page 99: HTTP $CODE"
log "nginx on $BASE (pid $NGINX_PID): ETag + 304 OK"

# CPU seconds used so far by nginx (master + workers), from /proc.
server_cpu() {
    local t=0 p
    for p in $NGINX_PID $(cat /proc/"$NGINX_PID"/task/*/children 2>/dev/null); do
        [[ -r /proc/$p/stat ]] || continue
        t=$(( t + $(awk '{print $14 + $15}' /proc/"$p"/stat) ))
    done
    echo $t
}
TICKS=$(getconf CLK_TCK)
# Busy CPU ticks of the whole machine (to see how much CPU other processes took during a run:
# on a shared box a concurrent build inflates wall times).
sys_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# Wait (up to QUIET_WAIT seconds) for a second in which other processes use < 0.25 CPU.
QUIET_WAIT=${QUIET_WAIT:-90}
wait_quiet() {
    local deadline=$(( $(date +%s) + QUIET_WAIT )) b0 b1
    while :; do
        b0=$(sys_busy); sleep 1; b1=$(sys_busy)
        (( (b1 - b0) * 4 < TICKS )) && return 0
        (( $(date +%s) >= deadline )) && { log "machine still busy ($(( (b1 - b0) * 100 / TICKS ))% CPU used by others); measuring anyway"; return 0; }
    done
}

# ---- measurement ------------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
# measure TOOL CYCLE PAGES_CMD -- CMD...   (PAGES_CMD: shell snippet printing the page count,
# run after CMD with $OUT = its stdout file)
measure() {
    local tool=$1 cycle=$2 pages_cmd=$3; shift 4
    local tag="${tool// /_}-$cycle" s0 s1 t0 t1 b0 b1
    OUT="$WORK/$tag.out"; local err="$WORK/$tag.err" tv="$WORK/$tag.time"
    sync; wait_quiet
    s0=$(server_cpu); b0=$(sys_busy); t0=$(date +%s.%N)
    /usr/bin/time -v -o "$tv" ${NICE:+nice -n "$NICE"} "$@" >"$OUT" 2>"$err" || { tail -5 "$err" >&2; die "$tool $cycle failed"; }
    t1=$(date +%s.%N); s1=$(server_cpu); b1=$(sys_busy)
    local pages; pages=$(OUT=$OUT bash -c "$pages_cmd")
    local user sys rss
    user=$(awk -F': ' '/User time/{print $2}' "$tv")
    sys=$(awk -F': ' '/System time/{print $2}' "$tv")
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$cycle" "$pages" \
        "$(awk "BEGIN{print $t1 - $t0}")" "$(awk "BEGIN{print $user + $sys}")" "$rss" \
        "$(awk "BEGIN{print ($s1 - $s0) / $TICKS}")" \
        "$(awk "BEGIN{o = ($b1 - $b0 - $s1 + $s0) / $TICKS - $user - $sys; print (o < 0 ? 0 : o)}")" >>"$RESULTS"
    log "$tool $cycle: $(tail -1 "$RESULTS" | cut -f3-)"
}

esc_base=$(printf '%s' "$BASE" | sed 's/[.]/\\./g')
write_pw_config() { # DIR CONCURRENCY DISCOVERY
    local dir=$1 conc=$2 disc=$3
    mkdir -p "$dir"
    {
        cat <<EOF
database = "$dir/presswatch.db"
alert_on_first_run = false

[fetch]
timeout_secs = 10
concurrency = $conc
per_host_interval_ms = 0

[email]
to = ["bench@example.org"]

[[sources]]
name = "bench-feed"
kind = "feed"
url = "$BASE/news/rss.xml"
match = '^$esc_base/news/[^/?#.]+\$'
profile = "iom"
EOF
        if [[ "$disc" == listing ]]; then cat <<EOF

[[sources]]
name = "bench-listing"
kind = "listing"
url = "$BASE/news"
links = "div.views-row h5.title a[href]"
next = "li.pager__item--next a[href]"
max_pages = 200
match = '^$esc_base/news/[^/?#.]+\$'
profile = "iom"
EOF
        else cat <<EOF

[[sources]]
name = "bench-sitemap"
kind = "sitemap"
url = "$BASE/sitemap.xml"
match = '^$esc_base/news/[^/?#.]+\$'
profile = "iom"
EOF
        fi
    } >"$dir/presswatch.toml"
}

if [[ "$DISCOVERY" == auto ]]; then
    write_pw_config "$WORK/probe" 1 listing
    if "$PW" --config "$WORK/probe/presswatch.toml" sources >/dev/null 2>"$WORK/probe/err"; then
        DISCOVERY=listing
    else
        DISCOVERY=sitemap
        log "listing pagination not accepted by this binary ($(head -1 "$WORK/probe/err")); using a sitemap"
    fi
fi
log "discovery: feed (50 latest) + $DISCOVERY"

# `check --all`: every tracked page, whatever its revisit schedule (the unchanged cycle must
# re-check all of them to be comparable).
CHECK_ARGS=(check)
CHECK_HELP="$("$PW" check --help 2>/dev/null || true)"
if grep -q -- '--all' <<<"$CHECK_HELP"; then CHECK_ARGS=(check --all); fi
log "presswatch command: ${CHECK_ARGS[*]}"

PW_PAGES='grep -oE "checked [0-9]+ pages" "$OUT" | grep -oE "[0-9]+"'
UW="$WORK/urlwatch"
UW_PAGES="wc -l <'$WORK/fixture/urls.txt'"
if [[ "$URLWATCH" == 1 ]]; then
    mkdir -p "$UW"
    cp "$WORK/fixture/urlwatch-urls.yaml" "$UW/urls.yaml"
    cat >"$UW/urlwatch.yaml" <<EOF
display: {new: true, error: true, unchanged: false, empty-diff: false}
report:
  stdout: {enabled: true, color: false}
EOF
fi
for rep in $(seq "$REPEAT"); do
    log "run $rep of $REPEAT"
    for c in $CONCURRENCIES; do
        rm -rf "$WORK/pw-c$c"
        write_pw_config "$WORK/pw-c$c" "$c" "$DISCOVERY"
        for cycle in first unchanged; do
            measure "presswatch c=$c" "$cycle" "$PW_PAGES" -- "$PW" --config "$WORK/pw-c$c/presswatch.toml" "${CHECK_ARGS[@]}"
        done
        # Sanity: the second cycle must find nothing new, and nothing may fail.
        grep -q " 0 failed;" "$WORK/presswatch_c=$c-first.out" || log "WARNING: failures in first cycle: $(cat "$WORK/presswatch_c=$c-first.out")"
        grep -q " 0 new, 0 changed, 0 removed" "$WORK/presswatch_c=$c-unchanged.out" \
            || log "WARNING: second cycle not all unchanged: $(cat "$WORK/presswatch_c=$c-unchanged.out")"
    done

    if [[ "$URLWATCH" == 1 ]]; then
        # urlwatch prints one report entry per NEW/CHANGED/ERROR job; the page count is the
        # number of jobs (every job runs each time).
        rm -f "$UW/cache.db"
        for cycle in first unchanged; do
            measure "urlwatch" "$cycle" "$UW_PAGES" -- urlwatch --urls "$UW/urls.yaml" --config "$UW/urlwatch.yaml" \
                --hooks "$UW/hooks.py" --cache "$UW/cache.db"
        done
        n_err=$(grep -c "^ERROR:" "$WORK/urlwatch-first.out" || true)
        n_new=$(grep -c "^NEW:" "$WORK/urlwatch-first.out" || true)
        [[ "$n_err" == 0 && "$n_new" == "$PAGES" ]] || log "WARNING: urlwatch first run: $n_new NEW, $n_err ERROR"
        n_chg=$(grep -cE "^(NEW|CHANGED|ERROR):" "$WORK/urlwatch-unchanged.out" || true)
        [[ "$n_chg" == 0 ]] || log "WARNING: urlwatch second run reported $n_chg jobs"
    fi
done

# ---- report -------------------------------------------------------------------------------------
python3 - "$RESULTS" "$DISCOVERY" "$(nproc)" <<'EOF'
import sys, statistics
raw = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
disc, cores = sys.argv[2], sys.argv[3]
# Median of the runs of each (tool, cycle); peak RSS is the largest of them.
groups = {}
for r in raw:
    groups.setdefault((r[0], r[1]), []).append(r)
rows = []
for (tool, cycle), rs in groups.items():
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    rows.append((tool, cycle, rs[0][2], med(3), med(4), max(int(r[5]) for r in rs), med(6), med(7), len(rs)))
R = {}
print(f"\nCycle benchmark: feed + {disc} discovery, politeness off, {cores} cores, nginx fixture on loopback")
print(f"(median of {max(r[-1] for r in rows)} runs each; every first cycle starts from an empty database/cache)\n")
hdr = ("tool", "cycle", "pages", "wall s", "pages/s", "CPU s", "peak RSS MB", "server CPU s", "others CPU s")
fmt = "{:<16} {:<10} {:>6} {:>8} {:>9} {:>7} {:>12} {:>13} {:>13}"
print(fmt.format(*hdr)); print(fmt.format(*("-" * len(h) for h in hdr)))
for tool, cycle, pages, wall, cpu, rss_kb, scpu, ocpu, _n in rows:
    pages, wall, cpu, rss, scpu, ocpu = int(pages), float(wall), float(cpu), int(rss_kb) / 1024, float(scpu), float(ocpu)
    R[(tool, cycle)] = dict(pages=pages, wall=wall, pps=pages / wall, cpu=cpu, rss=rss)
    print(fmt.format(tool, cycle, pages, f"{wall:.2f}", f"{pages / wall:.0f}", f"{cpu:.2f}", f"{rss:.1f}", f"{scpu:.2f}", f"{ocpu:.2f}"))
print("(server CPU s: nginx; others CPU s: every other process on the machine during the run --"
      " if it is large, the wall times are inflated by contention)\n")
def check(name, ok, detail):
    print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
tools = [t for t, c in R if t.startswith("presswatch") and c == "first"]
uw = R.get(("urlwatch", "first"))
for t in tools:
    f, u = R[(t, "first")], R.get((t, "unchanged"))
    print(f"{t}:")
    check("first cycle >= 300 pages/s", f["pps"] >= 300, f"{f['pps']:.0f} pages/s")
    if uw:
        r = f["pps"] / uw["pps"]
        check(">= 10x urlwatch (first cycle)", r >= 10, f"{r:.1f}x ({uw['pps']:.0f} pages/s)")
        uu = R.get(("urlwatch", "unchanged"))
        if u and uu:
            print(f"         (unchanged cycle vs urlwatch unchanged: {u['pps'] / uu['pps']:.1f}x)")
    if u:
        r = f["wall"] / u["wall"]
        check("unchanged cycle >= 3x faster than first", r >= 3, f"{r:.1f}x ({u['wall']:.2f} s vs {f['wall']:.2f} s)")
    peak = max(f["rss"], u["rss"] if u else 0)
    check("peak RSS <= 60 MB", peak <= 60, f"{peak:.1f} MB")
EOF
