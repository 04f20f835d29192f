#!/bin/sh
# Refreshes the vendored GraphiQL files from the npm registry (graph/graphiql/README.md says why they are here).
# Usage: sh graph/graphiql/regenerate.sh [graphiql-version] [react-version] — then review SHA256SUMS' diff and run
# tests/graph/test_ide.py.
set -eu
GRAPHIQL=${1:-3.8.3}
REACT=${2:-18.2.0}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
cp "graphiql-$GRAPHIQL/package/graphiql.min.js" "graphiql-$GRAPHIQL/package/graphiql.min.css" "$here/"
cp "react-$REACT/package/umd/react.production.min.js" "react-dom-$REACT/package/umd/react-dom.production.min.js" "$here/"
cp "graphiql-$GRAPHIQL/package/LICENSE" "$here/LICENSE.graphiql"
cp "react-$REACT/package/LICENSE" "$here/LICENSE.react"
cd "$here"
printf 'graphiql@%s react@%s react-dom@%s\n' "$GRAPHIQL" "$REACT" "$REACT" > VERSIONS
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js > SHA256SUMS
