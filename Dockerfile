# syntax=docker/dockerfile:1
# Muralist's two images, one target each:
#   bot    - python slim with the CPU torch: the Discord side (it paints itself only when no GPU
#            worker is configured, slowly).   docker build --target bot -t muralist-bot .
#   worker - NVIDIA CUDA runtime with the CUDA torch: a GPU worker taking jobs over Redis.
#            docker build --target worker -t muralist-worker .
# Both install exactly as scripts/setup.sh and the README's "Using a GPU" do, every package
# pinned by constraints.txt (tests/test_deploy.py keeps them equal). compose.yaml runs both.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------- source
# What `pip install .` needs, once for both images.
FROM scratch AS source
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY generation /src/generation
COPY loopback /src/loopback
COPY prompting /src/prompting
COPY safety /src/safety
COPY studio /src/studio

# ------------------------------------------------------------------------------------- bot
FROM ${PYTHON_IMAGE} AS bot
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/muralist/bin:$PATH \
    HF_HOME=/cache/huggingface \
    MURALIST_ENGINE__CACHE_DIR=/cache/muralist \
    MURALIST_QUEUE__DB_PATH=/data/muralist.db \
    MURALIST_QUEUE__IMAGES_DIR=/data/images \
    MURALIST_QUEUE__METRICS_PORT=9108
WORKDIR /app
COPY constraints.txt ./
RUN python3 -m venv /opt/muralist
RUN pip install -c constraints.txt torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY --from=source /src/ ./
RUN pip install -c constraints.txt .
RUN pip install --no-deps -c constraints.txt open-clip-torch
RUN useradd --system --uid 10001 --home-dir /data muralist \
    && mkdir -p /data /cache \
    && chown muralist:muralist /data /cache
USER 10001
VOLUME ["/data", "/cache"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["muralist", "health", "bot"]
ENTRYPOINT ["muralist"]
CMD ["bot"]

# ---------------------------------------------------------------------------------- worker
FROM ${CUDA_IMAGE} AS worker
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/muralist/bin:$PATH \
    HF_HOME=/cache/huggingface \
    MURALIST_ENGINE__CACHE_DIR=/cache/muralist \
    MURALIST_ENGINE__DEVICE=cuda
# The base image's tag pins Ubuntu, and with it python3 (3.12).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY constraints.txt ./
RUN python3 -m venv /opt/muralist
RUN pip install -c constraints.txt torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
COPY --from=source /src/ ./
RUN pip install -c constraints.txt .
RUN pip install --no-deps -c constraints.txt open-clip-torch
RUN useradd --system --uid 10001 --home-dir /cache muralist \
    && mkdir -p /cache \
    && chown muralist:muralist /cache
USER 10001
VOLUME ["/cache"]
ENTRYPOINT ["muralist"]
CMD ["worker", "--name", "gpu-0"]
