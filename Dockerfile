# headroom in a container: built with the pinned toolchain and the lock file, run as an
# unprivileged user, config read-only at /etc/headroom, state (the SQLite store) in a volume.
#   docker build -t headroom .
#   docker run -d --name headroom -v $PWD/config:/etc/headroom:ro -v headroom-state:/var/lib/headroom \
#     -e AWS_REGION=us-east-1 headroom
#   docker kill -s HUP headroom      # reload the config; `docker stop` sends SIGTERM (exit 0 within 10 s)
# /healthz and /metrics listen on [http] listen: 127.0.0.1 inside the container is enough for
# the HEALTHCHECK below; to scrape from outside, set listen = "0.0.0.0:9464" and
# allow_remote = true, and publish the port (-p 127.0.0.1:9464:9464).
# Linted with hadolint in scripts/test; the image itself is not built there (see README).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src src
COPY config config
COPY alerts alerts
COPY examples examples
COPY tests tests
RUN cargo build --release --locked --bin headroom

FROM debian:bookworm-slim
# ca-certificates follows Debian's security updates; pinning its version would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/headroom --create-home headroom
COPY --from=build /src/target/release/headroom /usr/local/bin/headroom
COPY config /etc/headroom
COPY alerts /etc/alerts
# The shipped config keeps its store at ./headroom.db: the working directory is the volume.
WORKDIR /var/lib/headroom
VOLUME ["/var/lib/headroom"]
USER 10001
ENV RUST_LOG=info HEADROOM_CONFIG=/etc/headroom
STOPSIGNAL SIGTERM
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/headroom", "health", "--timeout", "4"]
ENTRYPOINT ["/usr/local/bin/headroom"]
CMD ["run"]
