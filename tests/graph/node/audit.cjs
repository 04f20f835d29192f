// GraphQL-over-HTTP conformance: graphql-http's server audit against a running endpoint.
// usage: node audit.cjs <url> <api-key>   (prints JSON {ok, warn, error: [...]}; exit 1 on any error)
const { auditServer } = require("graphql-http");

const [url, key] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  if (key) headers.set("X-API-Key", key);
  return fetch(input, { ...init, headers });
};

auditServer({ url, fetchFn }).then((results) => {
  const out = { ok: 0, warn: [], error: [] };
  for (const r of results) {
    if (r.status === "ok") out.ok += 1;
    else out[r.status === "warn" ? "warn" : "error"].push(`${r.id} ${r.name}: ${r.reason}`);
  }
  console.log(JSON.stringify(out));
  process.exit(out.error.length ? 1 : 0);
});
