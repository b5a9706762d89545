# presswatch container image.
#
#   docker build -t presswatch .
#   docker run -d --name presswatch -v presswatch-state:/app/state -p 8080:8080 \
#     -e PRESSWATCH_EMAIL_SMTP='smtp://mail.example.org:587?tls=required' \
#     -e PRESSWATCH_EMAIL_TO=alerts@example.org presswatch
#
# State (SQLite database, .eml outbox) lives in the /app/state volume. The configuration is
# /app/config/presswatch.toml (the repo's config/; mount your own over it) and every key can be
# overridden with PRESSWATCH_* environment variables, which win over the file.

# ---- build ---------------------------------------------------------------------------------
FROM docker.io/library/rust:1-slim-bookworm AS build
WORKDIR /src
# Strip symbols from the release binary without touching Cargo.toml (smaller image).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# 1. Dependencies only, against dummy sources: this layer is reused until Cargo.toml or
#    Cargo.lock change, so editing src/ does not rebuild (or re-download) the dependencies.
#    Targets the manifest declares ([[bench]], [[test]], [[example]], [[bin]]) get stub files
#    too, since cargo refuses a manifest whose declared target files are missing; only the
#    binary is built, so the benches and tests themselves are not needed in the image.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && awk -F'"' '/^\[\[bench\]\]/ { d = "benches"; next } /^\[\[test\]\]/ { d = "tests"; next } \
      /^\[\[example\]\]/ { d = "examples"; next } /^\[\[bin\]\]/ { d = "src/bin"; next } \
      /^\[/ { d = ""; next } d && /^ *name *=/ { print d "/" $2 ".rs" } d && /^ *path *=/ { print $2 }' \
      Cargo.toml | while read -r f; do mkdir -p "$(dirname "$f")"; echo 'fn main() {}' > "$f"; done \
 && cargo build --release --locked \
 && rm -rf src target/release/presswatch* target/release/deps/presswatch-* \
           target/release/deps/libpresswatch-* target/release/.fingerprint/presswatch-*

# 2. The real sources.
COPY src ./src
RUN cargo build --release --locked \
 && ./target/release/presswatch --version

# ---- runtime -------------------------------------------------------------------------------
FROM docker.io/library/debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tzdata \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/* \
           /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
           /usr/share/lintian /usr/lib/*/gconv \
 && groupadd --system --gid 10001 presswatch \
 && useradd --system --uid 10001 --gid presswatch --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin presswatch \
 && mkdir -p /app/config /app/state \
 && chown presswatch:presswatch /app/state

# One flattened layer: the base image's docs, man pages and translations (deleted above) are
# not shipped at all, instead of staying in a lower layer. CA certificates and tzdata stay.
FROM scratch
COPY --from=runtime / /

COPY --from=build /src/target/release/presswatch /usr/local/bin/presswatch
COPY config/presswatch.toml /app/config/presswatch.toml

WORKDIR /app
ENV PRESSWATCH_CONFIG=/app/config/presswatch.toml \
    PRESSWATCH_DATABASE=/app/state/presswatch.db \
    PRESSWATCH_WEB_LISTEN=0.0.0.0:8080
USER presswatch:presswatch
VOLUME ["/app/state"]
EXPOSE 8080

# `presswatch healthcheck` asks the daemon's /healthz (no curl in the image): healthy while
# check cycles keep finishing on schedule.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["presswatch", "healthcheck"]

# SIGTERM (docker stop) makes the daemon finish or roll back the page check in progress and exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["presswatch"]
CMD ["run"]
