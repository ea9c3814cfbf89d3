"""Where requests come in and answers go out: the view, tokens, uploads, GraphiQL, the demo, and the
HTTP-level bounds and error shapes."""
