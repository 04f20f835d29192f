"""The GraphQL types, one module per type (or per small family of types), each declared over its record in
resolvers/model/: in place for plain records, as a subclass adding relation fields (declared with
``strawberry.field(resolver=...)`` to resolvers/) and federation keys for the others."""

