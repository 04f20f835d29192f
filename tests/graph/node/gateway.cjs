// A real Apollo Gateway over two subgraphs: fhirgraph (at <url>, with its API key) and a tiny "loyalty"
// subgraph served here that extends Patient with loyaltyPoints. Runs <query> through the gateway.
// usage: node gateway.cjs <fhirgraph-url> <api-key> <query>   (prints the gateway's JSON response)
const { ApolloServer } = require("@apollo/server");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } = require("@apollo/gateway");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { parse } = require("graphql");

const [url, key, query] = process.argv.slice(2);

async function main() {
  const loyalty = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Patient @key(fields: "id") { id: ID! loyaltyPoints: Int }
        type Query { loyaltyLeaders: [Patient!]! }
      `),
      resolvers: {
        Patient: { __resolveReference: (ref) => ({ id: ref.id, loyaltyPoints: ref.id.length * 10 }) },
        Query: { loyaltyLeaders: () => [] },
      },
    }),
  });
  const { url: loyaltyUrl } = await startStandaloneServer(loyalty, { listen: { port: 0 } });
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [{ name: "fhirgraph", url }, { name: "loyalty", url: loyaltyUrl }],
    }),
    buildService: ({ url: u }) => new RemoteGraphQLDataSource({
      url: u,
      willSendRequest({ request }) { if (key) request.http.headers.set("x-api-key", key); },
    }),
  });
  const server = new ApolloServer({ gateway });
  const { url: gatewayUrl } = await startStandaloneServer(server, { listen: { port: 0 } });
  const res = await fetch(gatewayUrl, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }),
  });
  console.log(JSON.stringify(await res.json()));
  await server.stop();
  await loyalty.stop();
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
