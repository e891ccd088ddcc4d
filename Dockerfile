# sondos-mcp over streamable HTTP by default, or stdio for one desktop client (`--transport stdio`).
# Stateless: run as many replicas as you like behind any load balancer; terminate TLS there.
# Configure with SONDOS_* environment variables (`sondos-mcp --help` lists them all).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY sondos_mcp ./sondos_mcp
RUN pip install ".[postgres,oauth,observability]" "httptools>=0.6" \
    && useradd --create-home --uid 10001 sondos \
    && mkdir /data && chown sondos /data

USER sondos
# Inside a container the server must listen beyond loopback, and it refuses to serve HTTP that way
# until `docker run` sets authentication (SONDOS_HTTP_AUTH=per_user, SONDOS_HTTP_TOKENS with
# SONDOS_API_KEY, or SONDOS_HTTP_AUTH=oauth with its settings) and the host names clients use
# (SONDOS_HTTP_ALLOWED_HOSTS, or SONDOS_PUBLIC_URL's in oauth mode): docs/deployment.md.
ENV SONDOS_HOST=0.0.0.0 SONDOS_PORT=8000 SONDOS_WORKERS=2
# The change journal: mount a volume here (or set SONDOS_JOURNAL_URL=postgresql://… for several
# replicas), or it is lost with the container.
ENV SONDOS_JOURNAL=/data/journal.sqlite3
VOLUME /data
EXPOSE 8000
# Asks the running server's /healthz on the address it was started with (SONDOS_PORT or --port); a
# container serving stdio has no HTTP to ask, and passes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["python", "-m", "sondos_mcp.healthcheck"]
# HTTP by default; `docker run -i … sondos-mcp --transport stdio` serves one desktop client instead.
ENTRYPOINT ["sondos-mcp"]
CMD ["--transport", "http"]
