// A real graphql-transport-ws client (the `graphql-ws` library over `ws`): subscribes and prints one JSON line
// per message: {"ready": true} once the subscription is sent, then each result, then {"done": true}.
// usage: node subscribe.cjs <ws-url> <api-key> <query> <variables-json> <count>
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");

const [url, apiKey, query, variables, count] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { apiKey },
  retryAttempts: 0,
  lazy: true,
  on: { closed: (event) => { if (event && event.code !== 1000) out({ closed: event.code, reason: event.reason }); } },
});

let seen = 0;
const unsubscribe = client.subscribe(
  { query, variables: JSON.parse(variables) },
  {
    next: (result) => {
      out(result);
      seen += 1;
      if (seen >= Number(count)) { unsubscribe(); client.dispose(); out({ done: true }); }
    },
    error: (err) => { out({ error: String((err && err.message) || (err && err.reason) || JSON.stringify(err)) }); process.exit(1); },
    complete: () => {},
  },
);
client.on("connected", () => setTimeout(() => out({ ready: true }), 100));
