// A browser app's GraphQL client (Apollo Client 3 + graphql-ws), from another origin: a query and a mutation
// over HTTP, and a subscription over graphql-transport-ws that sees the mutation's event. Every request carries
// the app's Origin, as a browser would; the CORS answer of each HTTP response is reported.
// Usage: node apollo_client.cjs <graphql-url> <origin> <api-key> <tag>
const { ApolloClient, InMemoryCache, HttpLink, gql, split } = require("@apollo/client/core");
const { GraphQLWsLink } = require("@apollo/client/link/subscriptions");
const { getMainDefinition } = require("@apollo/client/utilities");
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");

const [url, origin, key, tag] = process.argv.slice(2);
const seen = [];
const corsFetch = async (input, init) => {
  const response = await fetch(input, { ...init, headers: { ...init.headers, origin } });
  seen.push({ allowOrigin: response.headers.get("access-control-allow-origin"), vary: response.headers.get("vary") });
  return response;
};

class OriginSocket extends WebSocket {
  constructor(address, protocols) { super(address, protocols, { origin }); }
}

const ws = createClient({ url: url.replace(/^http/, "ws"), webSocketImpl: OriginSocket,
                          connectionParams: { apiKey: key }, lazy: false });
const http = new HttpLink({ uri: url, fetch: corsFetch, headers: { "x-api-key": key } });
const link = split(({ query }) => {
  const def = getMainDefinition(query);
  return def.kind === "OperationDefinition" && def.operation === "subscription";
}, new GraphQLWsLink(ws), http);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

async function main() {
  const events = [];
  const subscribed = new Promise((resolve, reject) => {
    const sub = client.subscribe({ query: gql`subscription { events(types: ["patient.created"]) { type patientId } }` })
      .subscribe({ next: (r) => { events.push(r.data.events); sub.unsubscribe(); resolve(); }, error: reject });
  });
  await new Promise((r) => setTimeout(r, 500)); // the subscribe message registered before the write
  const made = await client.mutate({
    mutation: gql`mutation($i: PatientInput!) { createPatient(input: $i) { patient { id lastName } } }`,
    variables: { i: { firstName: "Apollo", lastName: `Client${tag}` } },
  });
  const id = made.data.createPatient.patient.id;
  const read = await client.query({ query: gql`query($id: ID!) { patient(id: $id) { id lastName status } }`,
                                     variables: { id } });
  await Promise.race([subscribed, new Promise((_, reject) => setTimeout(() => reject(new Error("no event")), 15000))]);
  await ws.dispose();
  console.log(JSON.stringify({ created: id, read: read.data.patient, events, cors: seen }));
}

main().catch((error) => { console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
