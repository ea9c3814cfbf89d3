"""The schema's domain: GraphQL types and their resolvers, the mutations that launch jobs, and the
API's asyncio stores they read through."""
