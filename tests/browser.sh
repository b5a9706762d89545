#!/usr/bin/env bash
# Browser check of the web change log: builds presswatch, fills a temporary database by running
# `presswatch check` against a tiny local site (python3 -m http.server) with edits in between,
# starts `presswatch run` with `[web] listen`, and drives headless Chromium over `/`, a change
# (inline and side by side), a page history and a 404: --dump-dom for the elements,
# --screenshot (phone and desktop width) for a look, and the console log for errors.
#
#   bash tests/browser.sh            # screenshots are left in $OUT (printed at the end)
#   KEEP=1 bash tests/browser.sh     # keep the temp directory (database, logs)
#
# Needs python3 and Chromium (installed with apt-get when missing). Loopback only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d -t presswatch-browser-XXXXXX)"
OUT="${OUT:-$TMP/screenshots}"
mkdir -p "$OUT" "$TMP/site/news" "$TMP/state"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" != 1 ]; then
        # Keep only the screenshots, for looking at.
        find "$TMP" -mindepth 1 -maxdepth 1 ! -name screenshots -exec rm -rf {} +
    fi
}
trap cleanup EXIT

fail() {
    echo "browser.sh: FAIL: $*" >&2
    exit 1
}

# ---- tools ----
CHROMIUM="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$CHROMIUM" ]; then
    echo "browser.sh: installing chromium"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    CHROMIUM="$(command -v chromium)"
fi
command -v python3 >/dev/null || fail "python3 is needed for the fixture site"

echo "browser.sh: building"
(cd "$ROOT" && cargo build --quiet --bin presswatch)
PW="$ROOT/target/debug/presswatch"
# Requests go straight to 127.0.0.1.
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
SITE_PORT="$(free_port)"
WEB_PORT="$(free_port)"
SITE="http://127.0.0.1:$SITE_PORT"
WEB="http://127.0.0.1:$WEB_PORT"

# ---- the fixture site ----
FIX="$ROOT/tests/fixtures/iom"
cp "$FIX/statement-slovenia.html" "$TMP/site/news/slovenia.html"
cp "$FIX/statement-network.html" "$TMP/site/news/network.html"
listing() {
    {
        echo '<!doctype html><html><head><title>News</title></head><body><ul>'
        for p in "$@"; do echo "<li><a href=\"/news/$p.html\">$p</a></li>"; done
        echo '</ul></body></html>'
    } >"$TMP/site/index.html"
}
listing slovenia network
python3 -m http.server "$SITE_PORT" --bind 127.0.0.1 --directory "$TMP/site" >"$TMP/site.log" 2>&1 &
PIDS+=($!)

cat >"$TMP/presswatch.toml" <<TOML
database = "$TMP/state/presswatch.db"
# Once a year: \`run\` below only serves the web and waits.
schedule = "0 0 0 1 1 *"

[fetch]
timeout_secs = 5
per_host_interval_ms = 0

[web]
listen = "127.0.0.1:$WEB_PORT"

[[sources]]
name = "iom-test"
kind = "listing"
url = "$SITE/index.html"
match = '/news/'
profile = "iom"
TOML
pw() { "$PW" --config "$TMP/presswatch.toml" "$@"; }

for _ in $(seq 50); do
    curl -fsS -o /dev/null "$SITE/index.html" 2>/dev/null && break
    sleep 0.1
done

echo "browser.sh: filling the database"
pw check --all >/dev/null 2>&1 # baseline
# An edit, and a new statement whose title needs escaping.
python3 - "$TMP/site/news/slovenia.html" <<'PY'
import sys
p = sys.argv[1]
s = open(p, encoding="utf-8").read()
s = s.replace("nearly 260 million", "nearly 281 million", 1)
s = s.replace("an historic achievement", "a truly historic achievement", 1)
open(p, "w", encoding="utf-8").write(s)
PY
python3 - "$FIX/statement-network.html" "$TMP/site/news/script.html" <<'PY'
import sys
s = open(sys.argv[1], encoding="utf-8").read()
old = "Statement by UN Network on Migration on the Formal Endorsement of the Global Compact for Migration"
s = s.replace(old, "Test &lt;script&gt;alert(1)&lt;/script&gt; &amp; escaping")
open(sys.argv[2], "w", encoding="utf-8").write(s)
PY
listing slovenia network script
# http.server's Last-Modified has one-second resolution: move the edited files' mtime ahead so
# the conditional GET sees the edit.
touch -d "@$(($(date +%s) + 60))" "$TMP/site/news/slovenia.html" "$TMP/site/index.html"
pw check --all >/dev/null 2>&1
# A removal: two consecutive 404s.
rm "$TMP/site/news/network.html"
pw check --all >/dev/null 2>&1 || true
pw check --all >/dev/null 2>&1 || true
pw log --json >"$TMP/log.json"
cat "$TMP/log.json"
CHANGED_ID="$(python3 -c 'import json,sys; print(next(json.loads(l)["id"] for l in open(sys.argv[1]) if json.loads(l)["kind"]=="changed"))' "$TMP/log.json")"
[ -n "$CHANGED_ID" ] || fail "no changed change in the log"
grep -q '"kind":"new"' "$TMP/log.json" || fail "no new change in the log"
grep -q '"kind":"removed"' "$TMP/log.json" || fail "no removed change in the log"

echo "browser.sh: starting presswatch run on $WEB"
PRESSWATCH_LOG=info "$PW" --config "$TMP/presswatch.toml" run >"$TMP/run.log" 2>&1 &
RUN_PID=$!
PIDS+=($RUN_PID)
for _ in $(seq 100); do
    curl -fsS -o /dev/null "$WEB/healthz" 2>/dev/null && break
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$TMP/run.log"; fail "presswatch run exited"; }
    sleep 0.1
done
pw healthcheck || fail "presswatch healthcheck"
# (Whole responses into variables first: `grep -q`/`head` closing a pipe early would make
# curl fail with "Failed writing body" under pipefail.)
CHANGE_HTML="$(curl -fsS "$WEB/changes/$CHANGED_ID")"
PAGE_ID="$(grep -o 'href="/pages/[0-9]*"' <<<"$CHANGE_HTML" | sed -n '1s/[^0-9]//gp')"
[ -n "$PAGE_ID" ] || fail "no page link on /changes/$CHANGED_ID"

ERRORS=0
# browse NAME PATH ELEMENT... : dump the DOM, screenshot at phone and desktop width, check the
# elements (grep -E patterns on the DOM) and the console.
browse() {
    local name="$1" path="$2"
    shift 2
    local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --disable-dev-shm-usage --hide-scrollbars --enable-logging=stderr --v=0)
    local profile
    profile="$(mktemp -d "$TMP/chrome-XXXXXX")"
    "$CHROMIUM" "${flags[@]}" --user-data-dir="$profile" --dump-dom "$WEB$path" \
        >"$TMP/$name.dom.html" 2>"$TMP/$name.console.log" || true
    "$CHROMIUM" "${flags[@]}" --user-data-dir="$profile" --window-size=412,900 \
        --screenshot="$OUT/$name-phone.png" "$WEB$path" >/dev/null 2>>"$TMP/$name.console.log" || true
    "$CHROMIUM" "${flags[@]}" --user-data-dir="$profile" --window-size=1280,900 \
        --screenshot="$OUT/$name-desktop.png" "$WEB$path" >/dev/null 2>>"$TMP/$name.console.log" || true
    [ -s "$TMP/$name.dom.html" ] || { echo "  $name: empty DOM"; ERRORS=$((ERRORS + 1)); }
    [ -s "$OUT/$name-phone.png" ] || { echo "  $name: no screenshot"; ERRORS=$((ERRORS + 1)); }
    for el in "$@"; do
        if ! grep -Eq -- "$el" "$TMP/$name.dom.html"; then
            echo "  $name ($path): missing $el"
            ERRORS=$((ERRORS + 1))
        fi
    done
    if grep -Ei 'Uncaught|:CONSOLE[:(]|Refused to|SyntaxError|TypeError' "$TMP/$name.console.log"; then
        echo "  $name ($path): console errors (above)"
        ERRORS=$((ERRORS + 1))
    fi
    if grep -q '<script' "$TMP/$name.dom.html"; then
        echo "  $name ($path): a <script> element in the page"
        ERRORS=$((ERRORS + 1))
    fi
    echo "  $name: $path ok-ish, $(wc -c <"$TMP/$name.dom.html") bytes of DOM"
}

echo "browser.sh: browsing"
browse index "/" '<ol class="changes">' 'class="kind kind-changed"' 'class="kind kind-new"' \
    'class="kind kind-removed"' 'Test &lt;script&gt;alert\(1\)&lt;/script&gt;' '<form class="filters"' \
    'IOM Lauds Adoption of Global Compact for Migration'
browse filtered "/?kind=changed&q=Lauds" '1 change<' 'class="kind kind-changed"'
browse change "/changes/$CHANGED_ID" '<div class="diff" id="diff">' '<del>260</del>' '<ins>281</ins>' \
    '<ins>a truly</ins>|<ins>truly </ins>|<ins>truly</ins>'
browse change-side "/changes/$CHANGED_ID?view=side" '<div class="sbs">' 'Before \(v1\)' 'After \(v2\)'
browse page "/pages/$PAGE_ID" '<table id="versions">' '\?version=1"' '\?version=2"' 'nearly 281 million'
browse page-v1 "/pages/$PAGE_ID?version=1" 'Version 1, fetched' 'nearly 260 million'
browse notfound "/changes/999999" 'No change #999999'

# Feed and metrics answer too.
FEED="$(curl -fsS "$WEB/feed.atom")" || fail "feed: GET failed"
grep -q '<feed xmlns="http://www.w3.org/2005/Atom">' <<<"$FEED" || fail "feed"
METRICS="$(curl -fsS "$WEB/metrics")" || fail "metrics: GET failed"
grep -q 'presswatch_cycles_total' <<<"$METRICS" || fail "metrics"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$WEB/")" = 405 ] || fail "POST is not 405"

# A clean stop on SIGTERM.
kill -TERM "$RUN_PID"
for _ in $(seq 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$RUN_PID" 2>/dev/null; then fail "presswatch run did not stop on SIGTERM"; fi
wait "$RUN_PID" || fail "presswatch run exited with an error: $(tail -3 "$TMP/run.log")"

echo "browser.sh: screenshots in $OUT"
[ "$ERRORS" = 0 ] || fail "$ERRORS problem(s)"
echo "browser.sh: PASS"
