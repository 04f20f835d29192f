"""The GraphQL door's model: what each GraphQL object holds, computed from FHIR resources — one module per
domain, each with its records (plain dataclasses; graph/types/ declares the GraphQL types over them), its
enums, and the mapping from FHIR (and, for the writable ones, from mutation inputs back to FHIR)."""
