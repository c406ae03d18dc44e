# Multi-stage build of the single `verity` binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p verity

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/verity --create-home verity
COPY --from=build /src/target/release/verity /usr/local/bin/verity
USER verity
WORKDIR /var/lib/verity
EXPOSE 8080
ENTRYPOINT ["verity"]
CMD ["serve"]
