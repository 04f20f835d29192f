#!/bin/sh
# Installs what the tests need: fhirgraph with its test extras, and the real peers some tests run against —
# php-cli (seed 002's own PHP decryption snippet), openssl, docker-compose (which validates docker-compose.yml;
# no daemon needed) and chromium (the browser checks: CORS as a browser enforces it, GraphiQL offline) — from
# Debian's packages where apt is available.
# Node.js/npm peers (FHIR examples, graphql-ws, @apollo/composition) are fetched by the tests into tests/.cache.
set -e
pip install -c constraints.txt -e ".[test,devdb,otel]"
if ! command -v php >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 || \
   ! command -v docker-compose >/dev/null 2>&1 || \
   ! { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends php-cli openssl docker-compose chromium >/dev/null; } ||
      echo "tests/setup.sh: apt-get could not install php-cli/openssl/docker-compose/chromium; the checks that" \
           "need them will be skipped or fail" >&2
  else
    echo "tests/setup.sh: php-cli, openssl, docker-compose or chromium is missing and cannot be installed here;" \
         "the checks that need them will be skipped or fail" >&2
  fi
fi
