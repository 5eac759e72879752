# The exporter's production image: the exporter and its runtime dependencies only (no demo extra,
# no build tools), in a virtual environment copied from a build stage, running as a non-root user.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t mcp-exporter:0.1.0 .
#   docker run -p 9675:9675 mcp-exporter:0.1.0 [flags]
#
# Flags (the entrypoint is `mcp-exporter`; the default command only sets the listen address):
#   --config.file=PATH         modules (the built-in default config without it)
#   --web.listen-address=:9675 where /probe, /metrics and the pages are served
#   --web.config.file=PATH     TLS and basic auth (exporter-toolkit format); the HEALTHCHECK reads
#                              it from the exporter's own command line
#   --probes.max-concurrent=N  probes beyond this get a 503
#   --log.level, --log.format  info|debug|..., logfmt|json
# `mcp-exporter --help` lists every flag. tests/test_image.py runs this file's install commands in
# a clean virtual environment.

# Pinned: a rebuild gets the same Python; bump the tag (or pin its digest) deliberately.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    VENV=/opt/mcp-exporter
WORKDIR /src
COPY requirements.lock pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
# Exact versions from the lock, then the exporter itself without resolving anything again: the
# same dependencies on every build. pip check fails the build if the lock is incomplete; pip and
# setuptools (seeded by venv) are not needed at run time.
RUN python -m venv "$VENV" \
    && "$VENV/bin/pip" install --no-deps --requirement requirements.lock \
    && "$VENV/bin/pip" install --no-deps . \
    && "$VENV/bin/pip" check \
    && "$VENV/bin/pip" uninstall --yes pip setuptools \
    && "$VENV/bin/mcp-exporter" --version

# The compose demo's image (`--target demo`): the production environment plus the demo extra (the
# MCP SDK for `mcp-exporter demo-server`), resolved at build time; never the default target.
FROM build AS build-demo
RUN python -m pip --python "$VENV/bin/python" install ".[demo]"

FROM ${PYTHON_IMAGE} AS demo
ENV PATH=/opt/mcp-exporter/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build-demo /opt/mcp-exporter /opt/mcp-exporter
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin exporter
USER 10001
EXPOSE 9675 9676
ENTRYPOINT ["mcp-exporter"]
CMD ["--web.listen-address=:9675"]

# The production image, the default (last) target.
FROM ${PYTHON_IMAGE} AS production
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mcp-exporter" \
      org.opencontainers.image.description="Prometheus blackbox-style exporter for MCP servers and the LiteLLM MCP gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
ENV PATH=/opt/mcp-exporter/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/mcp-exporter /opt/mcp-exporter
RUN groupadd --system --gid 10001 exporter \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin exporter

USER 10001
EXPOSE 9675
# Reads --web.listen-address and --web.config.file from the exporter's command line (PID 1), so it
# keeps working with TLS or basic auth turned on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s \
  CMD ["mcp-exporter-healthcheck", "--path=/-/healthy"]
ENTRYPOINT ["mcp-exporter"]
CMD ["--web.listen-address=:9675"]
