#!/usr/bin/env bash
# Container smoke test: builds the image from ./Dockerfile with podman and runs it against a
# loopback fixture site and SMTP sink, like a user would run it.
#
#   bash tests/container.sh
#
# Checks: the image builds; the daemon starts as a non-root user with a mounted config, a named
# state volume and an env override; /healthz answers 200; the first cycle mails
# "[presswatch] New: ..." to the SMTP sink; the image's HEALTHCHECK passes; the state volume holds
# the database; `podman stop` (SIGTERM) stops it cleanly. Prints the image size.
#
# Needs root (podman with --isolation chroot + runc), python3 and the Rust toolchain (only to
# vendor the dependencies when the build container cannot reach crates.io). If podman or the
# base images are missing it runs the container-images tool ($CONTAINER_IMAGES_TOOL), which
# installs podman/runc/debootstrap and builds debian:bookworm-slim and rust:1-slim-bookworm
# offline.
#
# Environment: IMAGE (default localhost/presswatch), CONTAINER_IMAGES_TOOL, VENDOR=auto|1|0
# (auto: vendor when the builder cannot reach crates.io), WAIT_SECS (default 90),
# MAX_IMAGE_MB (default 120: the image's size budget).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

IMAGE=${IMAGE:-localhost/presswatch}
# The workplace's copy of the tool if there is one (../shared/tools), else the copy in .ci/.
if [[ -z ${CONTAINER_IMAGES_TOOL:-} ]]; then
  for candidate in "$(dirname "$0")/../../shared/tools/container-images" /work/shared/tools/container-images \
    "$(dirname "$0")/../.ci/container-images"; do
    if [[ -f $candidate ]]; then CONTAINER_IMAGES_TOOL=$candidate; break; fi
  done
fi
CONTAINER_IMAGES_TOOL=${CONTAINER_IMAGES_TOOL:-.ci/container-images}
VENDOR=${VENDOR:-auto}
WAIT_SECS=${WAIT_SECS:-90}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-120}
BASE_IMAGE=docker.io/library/debian:bookworm-slim
BUILDER_IMAGE=docker.io/library/rust:1-slim-bookworm
# This kernel refuses podman's default rlimits and cgroup setup: runc, explicit ulimits.
podman_rt=(podman --runtime runc)
run_opts=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096)

started=$(date +%s)
step() { printf '\n== %s (+%ss)\n' "$*" "$(($(date +%s) - started))"; }
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  exit 1
}

tmp=$(mktemp -d /tmp/presswatch-container.XXXXXX)
name=presswatch-test-$$
volume=presswatch-test-state-$$
pids=()
container_started=0
cleanup() {
  local rc=$?
  if ((container_started)); then
    if ((rc != 0)); then
      echo "--- container logs (last 40 lines)" >&2
      podman logs --tail 40 "$name" >&2 2>&1 || true
    fi
    "${podman_rt[@]}" rm -f -t 5 "$name" >/dev/null 2>&1 || true
  fi
  podman volume rm -f "$volume" >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in python3; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

# ---- podman and base images -------------------------------------------------------------
step "podman and base images"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null ||
  ! podman image exists "$BASE_IMAGE" || ! podman image exists "$BUILDER_IMAGE"; then
  [[ -f $CONTAINER_IMAGES_TOOL ]] ||
    fail "podman or the base images are missing and $CONTAINER_IMAGES_TOOL does not exist (set CONTAINER_IMAGES_TOOL)"
  [[ $(id -u) == 0 ]] || fail "installing podman and building the base images needs root"
  bash "$CONTAINER_IMAGES_TOOL" || fail "$CONTAINER_IMAGES_TOOL failed"
fi
podman --version

# ---- build ------------------------------------------------------------------------------
# When the build container cannot reach crates.io (no network, or a TLS-intercepting proxy
# whose CA only the host trusts), build from a staged copy of the context with the
# dependencies vendored on the host (`cargo vendor`) and two COPY lines added to the
# Dockerfile. Nothing is vendored into the repository.
context=$repo
dockerfile=$repo/Dockerfile
if [[ $VENDOR == auto ]]; then
  step "can the builder reach crates.io?"
  if "${podman_rt[@]}" run --rm "${run_opts[@]}" --network host "$BUILDER_IMAGE" \
    cargo search --limit 1 anyhow >"$tmp/probe.log" 2>&1; then
    VENDOR=0
    echo "yes: the build fetches crates itself"
  else
    VENDOR=1
    echo "no ($(grep -m1 -iE 'error|caused' "$tmp/probe.log" || tail -1 "$tmp/probe.log")): vendoring on the host"
  fi
fi
if [[ $VENDOR == 1 ]]; then
  step "vendor dependencies into a staged build context"
  command -v cargo >/dev/null || fail "cargo is needed on the host to vendor the dependencies"
  context=$tmp/context
  mkdir -p "$context/.cargo"
  cp -r Cargo.toml Cargo.lock src config .dockerignore "$context/"
  # Against the repository's manifest (its benches/tests must exist for cargo to read it).
  cargo vendor --locked --versioned-dirs --manifest-path "$repo/Cargo.toml" "$context/vendor" \
    >/dev/null 2>"$tmp/vendor.log" || { tail -20 "$tmp/vendor.log" >&2; fail "cargo vendor failed"; }
  printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n[source.vendored-sources]\ndirectory = "vendor"\n' \
    >"$context/.cargo/config.toml"
  echo "vendored $(find "$context/vendor" -mindepth 1 -maxdepth 1 | wc -l) crates ($(du -sh "$context/vendor" | cut -f1))"
  printf '!vendor/\n!.cargo/\n' >>"$context/.dockerignore"
  anchor='COPY Cargo.toml Cargo.lock ./'
  grep -qxF "$anchor" Dockerfile || fail "Dockerfile has no line '$anchor' to add the vendored sources after"
  awk -v a="$anchor" '{ print } $0 == a { print "COPY .cargo ./.cargo"; print "COPY vendor ./vendor" }' \
    Dockerfile >"$context/Dockerfile"
  dockerfile=$context/Dockerfile
fi

step "build $IMAGE"
build_started=$(date +%s)
if ! podman build --isolation chroot --format docker -t "$IMAGE" -f "$dockerfile" "$context" \
  >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log" >&2
  fail "podman build failed (log above)"
fi
grep -E '^\[?[0-9/]*\]? ?STEP|Finished|Compiling presswatch' "$tmp/build.log" | tail -4 || true
echo "built in $(($(date +%s) - build_started))s"

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }
echo "image size: $(mb "$size") MB (the $BASE_IMAGE it starts from is $(mb "$base_size") MB here)"
((size <= MAX_IMAGE_MB * 1000000)) ||
  fail "the image is $(mb "$size") MB, more than MAX_IMAGE_MB=$MAX_IMAGE_MB"
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
[[ $healthcheck == *'"presswatch","healthcheck"'* ]] ||
  fail "the image has no HEALTHCHECK running 'presswatch healthcheck' (got: $healthcheck)"

# ---- fixtures: a statement page, an SMTP sink -------------------------------------------
step "fixture site and SMTP sink on 127.0.0.1"
read -r http_port smtp_port web_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

mkdir -p "$tmp/site" "$tmp/mail"
cat >"$tmp/site/statement.html" <<'HTML'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Container smoke statement | Agency</title></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<main><article>
<h1>Container smoke statement</h1>
<p>The agency today published a statement on the protection of migrant workers in the construction sector across the region.</p>
<p>It calls on employers and governments to guarantee fair recruitment, decent housing and access to health care for every worker.</p>
<p>The agency stands ready to support national authorities in implementing these commitments in the coming months.</p>
</article></main>
<footer>Contact the press office</footer></body></html>
HTML
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/site" "$http_port" >"$tmp/http.log" 2>&1 &
pids+=($!)

# A minimal SMTP receiver: accepts everything, writes each message to mail/NNN.eml and its
# decoded Subject to mail/subjects.txt.
cat >"$tmp/smtp_sink.py" <<'PY'
import asyncio, email, email.policy, itertools, os, sys

port, outdir = int(sys.argv[1]), sys.argv[2]
counter = itertools.count(1)

async def session(reader, writer):
    def reply(line):
        writer.write(line.encode() + b"\r\n")
    reply("220 sink ESMTP ready")
    try:
        while True:
            await writer.drain()
            line = await reader.readline()
            if not line:
                break
            verb = line.decode("latin-1").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                reply("250-sink")
                reply("250-8BITMIME")
                reply("250 SMTPUTF8")
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                reply("250 OK")
            elif verb == "DATA":
                reply("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                lines = []
                while True:
                    l = await reader.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    lines.append(l[1:] if l.startswith(b".") else l)
                data = b"".join(lines)
                n = next(counter)
                path = os.path.join(outdir, f"{n:03}.eml")
                with open(path + ".tmp", "wb") as f:
                    f.write(data)
                os.rename(path + ".tmp", path)
                subject = email.message_from_bytes(data, policy=email.policy.default)["subject"]
                with open(os.path.join(outdir, "subjects.txt"), "a") as f:
                    f.write(f"{subject}\n")
                reply(f"250 OK queued as {n}")
            elif verb == "QUIT":
                reply("221 bye")
                await writer.drain()
                break
            else:
                reply("502 command not implemented")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(session, "127.0.0.1", port)
    print(f"smtp sink on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
python3 "$tmp/smtp_sink.py" "$smtp_port" "$tmp/mail" >"$tmp/smtp.log" 2>&1 &
pids+=($!)

wait_until() { # SECONDS DESCRIPTION COMMAND...: poll COMMAND every second
  local secs=$1 what=$2
  shift 2
  local deadline=$(($(date +%s) + secs))
  until "$@"; do
    (($(date +%s) < deadline)) || fail "timed out after ${secs}s waiting for $what"
    if ((container_started)) && [[ $(podman inspect --format '{{.State.Running}}' "$name" 2>/dev/null) != true ]]; then
      fail "the container stopped while waiting for $what"
    fi
    sleep 1
  done
}
http_ok() { # URL: 0 when it answers 200
  python3 -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=3).status == 200 else 1)
except Exception:
    sys.exit(1)' "$1"
}
smtp_up() { python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$smtp_port" 2>/dev/null; }
wait_until 15 "the fixture site" http_ok "http://127.0.0.1:$http_port/statement.html"
wait_until 15 "the SMTP sink" smtp_up
echo "site :$http_port  smtp :$smtp_port  web :$web_port"

# ---- run the container ------------------------------------------------------------------
step "run the container"
# The config is mounted over the image's; the SMTP server comes from the environment, like
# a deployment would pass it. PRESSWATCH_WEB_LISTEN must be given because the image sets it
# (0.0.0.0:8080) and the environment wins over the file; with --network host the fixture's
# own port is used.
cat >"$tmp/presswatch.toml" <<TOML
database = "/app/state/presswatch.db"
schedule = "*/5 * * * * *"
alert_on_first_run = true

[fetch]
timeout_secs = 5
per_host_interval_ms = 0

[email]
to = ["alerts@example.org"]
from = "presswatch <presswatch@example.org>"
# smtp: from PRESSWATCH_EMAIL_SMTP

[web]
listen = "127.0.0.1:$web_port"

[[sources]]
name = "fixture"
kind = "page"
url = "http://127.0.0.1:$http_port/statement.html"
TOML
chmod 0644 "$tmp/presswatch.toml"
podman volume create "$volume" >/dev/null
"${podman_rt[@]}" run -d --name "$name" "${run_opts[@]}" --network host \
  -v "$volume:/app/state" \
  -v "$tmp/presswatch.toml:/app/config/presswatch.toml:ro" \
  -e "PRESSWATCH_EMAIL_SMTP=smtp://127.0.0.1:$smtp_port" \
  -e "PRESSWATCH_WEB_LISTEN=127.0.0.1:$web_port" \
  "$IMAGE" >/dev/null
container_started=1

uid=$("${podman_rt[@]}" exec "$name" id -u)
[[ $uid != 0 ]] || fail "the daemon runs as root"
echo "daemon runs as uid $uid"

step "wait for /healthz"
wait_until "$WAIT_SECS" "/healthz to answer 200" http_ok "http://127.0.0.1:$web_port/healthz"
echo "/healthz: 200"

step "wait for the New alert"
new_mail() { grep -qF '[presswatch] New:' "$tmp/mail/subjects.txt" 2>/dev/null; }
wait_until "$WAIT_SECS" "a mail with subject '[presswatch] New:'" new_mail
grep -m1 -F '[presswatch] New:' "$tmp/mail/subjects.txt" | sed 's/^/subject: /'
grep -qF '[presswatch] New: Container smoke statement' "$tmp/mail/subjects.txt" ||
  fail "unexpected alert subject: $(head -1 "$tmp/mail/subjects.txt")"

step "HEALTHCHECK"
if out=$("${podman_rt[@]}" healthcheck run "$name" 2>&1); then
  echo "podman healthcheck run: ${out:-healthy}"
else
  echo "podman healthcheck run failed: $out" >&2
  "${podman_rt[@]}" exec "$name" presswatch healthcheck >&2 || true
  fail "the image's HEALTHCHECK (presswatch healthcheck) failed"
fi
"${podman_rt[@]}" exec "$name" presswatch healthcheck

step "state volume"
"${podman_rt[@]}" exec "$name" test -s /app/state/presswatch.db ||
  fail "no database in the /app/state volume"
"${podman_rt[@]}" exec "$name" presswatch log --limit 1

step "stop (SIGTERM)"
podman stop -t 30 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "the daemon exited with $code after SIGTERM"
# (The logs into a variable first: `grep -q` closing the pipe early could fail the
# pipeline under pipefail.)
logs="$(podman logs "$name" 2>&1)"
grep -q "presswatch stopped" <<<"$logs" || fail "the daemon did not log a clean stop"
echo "stopped cleanly (exit 0)"

echo
echo "container test passed in $(($(date +%s) - started))s; image $IMAGE: $(mb "$size") MB"
