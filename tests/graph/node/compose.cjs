// Apollo Federation composition of the fhirgraph subgraph with a second subgraph that extends Patient.
// usage: node compose.cjs <fhirgraph-sdl-file>   (prints JSON {ok, errors, supergraphHasLoyalty})
const fs = require("fs");
const { parse } = require("graphql");
const { composeServices } = require("@apollo/composition");

const LOYALTY = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Patient @key(fields: "id") {
  id: ID!
  loyaltyPoints: Int
}
type Query { loyaltyLeaders: [Patient!]! }
`;

const sdl = fs.readFileSync(process.argv[2], "utf8");
const result = composeServices([
  { name: "fhirgraph", url: "http://fhirgraph/graphql", typeDefs: parse(sdl) },
  { name: "loyalty", url: "http://loyalty/graphql", typeDefs: parse(LOYALTY) },
]);
const errors = (result.errors || []).map((e) => e.message);
console.log(JSON.stringify({
  ok: errors.length === 0,
  errors,
  supergraphHasLoyalty: !!(result.supergraphSdl && result.supergraphSdl.includes("loyaltyPoints")),
}));
process.exit(errors.length ? 1 : 0);
