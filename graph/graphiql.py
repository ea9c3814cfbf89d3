"""GraphiQL served from this process: Strawberry's page loads React and GraphiQL from unpkg.com,
which machines without internet access (and strict CSPs) cannot reach. The same files, with the
same subresource-integrity hashes, ship in `graph/static/graphiql/`. The page opens with an
example document and the Authorization header to fill in. It is served in development, and in
production only with GRAPHIQL=true."""

from __future__ import annotations

import json
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql-assets"

_CDN_TO_LOCAL = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}


# What a newcomer finds in the editor (unless the URL brings a document of its own): who they
# are and their quotas; the README's walk-through goes on from there.
EXAMPLE_DOCUMENT = """# cvimprover-graph. Paste a token in the Headers tab below
# (make token USER=alice PLAN=Pro), then run this; the README's walk-through goes on with a
# mutation and a subscription.
query WhoAmI {
  me { id plan }
  rateLimitStatus { scope used limit resetAt }
}
"""
HEADERS_TEMPLATE = '{"Authorization": "Bearer <a token from make token>"}'

# The snippets of Strawberry's page that our defaults replace, and with what.
_DEFAULTS = {
    "parameters.q || EXAMPLE_QUERY": f"parameters.q || {json.dumps(EXAMPLE_DOCUMENT)}",
    "React.useState(parameters.headers)": (
        f"React.useState(parameters.headers || {json.dumps(HEADERS_TEMPLATE)})"
    ),
}


def graphiql_html() -> str:
    html = get_graphql_ide_html(graphql_ide="graphiql")
    replacements = {cdn_url: f"{ASSETS_PATH}/{filename}" for cdn_url, filename in _CDN_TO_LOCAL.items()}
    for snippet, replacement in {**replacements, **_DEFAULTS}.items():
        if snippet not in html:
            raise RuntimeError(
                f"Strawberry's GraphiQL page no longer contains {snippet!r}; "
                "update graph/graphiql.py (and graph/static/graphiql) to the page it serves"
            )
        html = html.replace(snippet, replacement)
    return html
