# A small image: the exporter with its built-in default config, running as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The demo extra brings the MCP SDK so `mcp-exporter demo-server` works in the compose demo.
RUN pip install '.[demo]' && useradd --system --uid 10001 --no-create-home exporter

USER 10001
EXPOSE 9675
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9675/-/healthy', timeout=2).status == 200 else 1)"
ENTRYPOINT ["mcp-exporter"]
CMD ["--web.listen-address=:9675"]
