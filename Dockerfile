FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/fhirgraph
COPY pyproject.toml README.md ./
COPY app ./app
COPY store ./store
COPY fhir_rest ./fhir_rest
COPY graph ./graph
COPY resolvers ./resolvers
COPY auth ./auth
COPY subscriptions ./subscriptions
RUN pip install . && useradd --system --uid 10001 fhirgraph
USER fhirgraph
# 8000: the API; /metrics alone on FHIRGRAPH_METRICS_PORT when set (docker-compose.yml: 9100, never published).
EXPOSE 8000
# The check names the server 127.0.0.1: with FHIRGRAPH_BASE_URL or FHIRGRAPH_ALLOWED_HOSTS set, list 127.0.0.1 in
# FHIRGRAPH_ALLOWED_HOSTS too (other hosts get 400). /health answers within FHIRGRAPH_HEALTH_TIMEOUT_S (1 s).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
CMD ["fhirgraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
