"""The GraphQL API: `domain/` (the schema's types, resolvers and stores), `live/` (the pub/sub
listener, subscriptions and their transports), `edges/` (the view, tokens, uploads, GraphiQL, HTTP
limits) and `bounds/` (what an operation may cost). C1-C11 in comments name the contracts of
docs/architecture.md."""
