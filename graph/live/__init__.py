"""The live path: the one pub/sub listener, each job's stream, the subscriptions, and the transports
that carry them (graphql-transport-ws, HTTP multipart and SSE)."""
