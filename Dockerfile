# Multi-stage build: a full Rust toolchain to build, a slim Debian runtime to run.
# (No Docker engine runs on the development machines, so CI cannot build this image;
# it is kept deliberately simple. Build with: docker build -t doorman .)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY src src
COPY migrations migrations
COPY data data
RUN cargo build --release --locked && strip target/release/doorman

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/doorman --create-home doorman
COPY --from=build /src/target/release/doorman /usr/local/bin/doorman
USER doorman
WORKDIR /var/lib/doorman
ENV DOORMAN_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/doorman/doorman.db \
    DOORMAN_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/var/lib/doorman"]
ENTRYPOINT ["/usr/local/bin/doorman"]
CMD ["serve"]
