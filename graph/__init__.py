"""The GraphQL API: schema, types, resolvers, subscriptions and the pub/sub listener."""
