# headroom in a container: build with the pinned toolchain, run as an unprivileged user.
#   docker build -t headroom .
#   docker run --rm -v $PWD/config:/etc/headroom:ro -v headroom-state:/var/lib/headroom headroom
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src src
COPY config config
COPY alerts alerts
COPY tests tests
RUN cargo build --release --locked --bin headroom

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/headroom --create-home headroom
COPY --from=build /src/target/release/headroom /usr/local/bin/headroom
COPY config /etc/headroom
COPY alerts /etc/alerts
USER headroom
WORKDIR /var/lib/headroom
ENV RUST_LOG=info
ENTRYPOINT ["/usr/local/bin/headroom", "--config", "/etc/headroom"]
CMD ["run"]
