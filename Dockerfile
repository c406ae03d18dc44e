# Multi-stage build of the single `verity` binary, with the local face matcher (dlib).
FROM rust:1.95-bookworm AS build
# dlib and OpenBLAS for the `local` face matcher; pip to fetch its models.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libdlib-dev libopenblas-dev python3-pip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `face-local`: the binary with the local face matcher (dlib).
RUN cargo build --release --locked -p verity --features face-local
# The CC0 models (5-point landmarks, ResNet descriptor); never the 68-point model.
RUN bash crates/verity-face-match/scripts/fetch-models.sh /src/face-models

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
        libdlib19.1 libopenblas0-pthread \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/verity --create-home verity
COPY --from=build /src/target/release/verity /usr/local/bin/verity
# face_check.models_dir defaults to ./face-models, the working directory's.
COPY --from=build --chown=verity /src/face-models /var/lib/verity/face-models
# One OpenBLAS thread per comparison: the matcher runs comparisons in parallel itself.
ENV OPENBLAS_NUM_THREADS=1
USER verity
WORKDIR /var/lib/verity
EXPOSE 8080
ENTRYPOINT ["verity"]
CMD ["serve"]
