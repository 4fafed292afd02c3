# doorman's image: `docker build -t doorman .` (or `docker compose up --build`).
# Stage 1 builds with the full Rust toolchain; stage 2 is a slim Debian that runs the binary
# as a non-root user. Dependencies are built in a layer of their own, from Cargo.toml and
# Cargo.lock alone, so a change to doorman's sources rebuilds doorman, not its 300 crates.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
# Placeholder targets: enough for cargo to build every dependency.
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/doorman target/release/deps/doorman-* target/release/deps/libdoorman-* \
    target/release/.fingerprint/doorman-*
# The sources, migrations and data files the binary embeds: all .dockerignore lets through.
COPY . .
RUN cargo build --release --locked && strip target/release/doorman

FROM debian:bookworm-slim
# curl answers the HEALTHCHECK; ca-certificates lets doorman reach SMTP servers over TLS.
# Not pinned (DL3008): bookworm's point releases would break a pinned version.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/doorman --create-home doorman
COPY --from=build /src/target/release/doorman /usr/local/bin/doorman
USER 10001
WORKDIR /var/lib/doorman
ENV DOORMAN_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/doorman/doorman.db \
    DOORMAN_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/doorman"]
# Ready: the database answers and the signing keys are loaded.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["/usr/local/bin/doorman"]
CMD ["serve"]
