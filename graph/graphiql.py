"""GraphiQL served from this process: Strawberry's page loads React and GraphiQL from unpkg.com,
which machines without internet access (and strict CSPs) cannot reach. The same files, with the
same subresource-integrity hashes, ship in `graph/static/graphiql/`."""

from __future__ import annotations

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


def graphiql_html() -> str:
    html = get_graphql_ide_html(graphql_ide="graphiql")
    for cdn_url, filename in _CDN_TO_LOCAL.items():
        if cdn_url not in html:
            raise RuntimeError(
                f"Strawberry's GraphiQL page no longer references {cdn_url}; "
                "update graph/static/graphiql to the versions it uses"
            )
        html = html.replace(cdn_url, f"{ASSETS_PATH}/{filename}")
    return html
