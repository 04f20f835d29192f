FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/fhirgraph
COPY pyproject.toml README.md constraints.txt ./
COPY app ./app
COPY store ./store
COPY fhir_rest ./fhir_rest
COPY graph ./graph
COPY resolvers ./resolvers
COPY auth ./auth
COPY subscriptions ./subscriptions
# The versions the tests ran with (constraints.txt); tracing available (off until OTEL_* variables ask for it).
# No devdb extra: the embedded test engine is not in the production image, nor are the tests.
RUN pip install -c constraints.txt ".[otel]" && useradd --system --uid 10001 fhirgraph
USER fhirgraph
# 8000: the API; /metrics alone on FHIRGRAPH_METRICS_PORT when set (docker-compose.yml: 9100, never published).
EXPOSE 8000
# Liveness only: the process answers. Readiness (/health/ready, the database too) is the proxy's question.
# The check names the server 127.0.0.1: with FHIRGRAPH_BASE_URL or FHIRGRAPH_ALLOWED_HOSTS set, list 127.0.0.1 in
# FHIRGRAPH_ALLOWED_HOSTS too (other hosts get 400).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status == 200 else 1)"
# SIGTERM: stop accepting, finish open requests and close websockets (1012) within FHIRGRAPH_SHUTDOWN_TIMEOUT_S,
# then flush the audit trail and close the store.
STOPSIGNAL SIGTERM
# Add --access-log for a JSON line per request (request id, door, route template, status, duration, tenant,
# client): about 25 µs of CPU per request, a quarter of a cached read's; the request metrics cover the same.
CMD ["fhirgraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
