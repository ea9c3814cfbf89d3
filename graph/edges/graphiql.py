"""GraphiQL served from this process: Strawberry's page loads React and GraphiQL from unpkg.com,
which machines without internet access (and strict CSPs) cannot reach. The same files, with the
same subresource-integrity hashes, ship in `graph/vendor/graphiql/` (recorded, by npm package and
version, in `graph/vendor/graphiql.json`; see graph/vendored.py). The page opens with an
example document and the Authorization header to fill in. It is served in development, and in
production only with GRAPHIQL=true."""

from __future__ import annotations

import json

from graph.strawberry_private import get_graphql_ide_html
from graph.vendored import Bundle, VendoredFile, VendoredPackage

ASSETS = Bundle.load("graphiql")
ASSETS_DIR = ASSETS.directory
ASSETS_PATH = "/graphiql-assets"


def cdn_url(package: VendoredPackage, file: VendoredFile) -> str:
    """Where Strawberry's page loads the file from."""
    return f"https://unpkg.com/{package.spec}/{file.path}"


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
    replacements = {cdn_url(package, file): f"{ASSETS_PATH}/{file.file}" for package, file in ASSETS.files()}
    for snippet, replacement in {**replacements, **_DEFAULTS}.items():
        if snippet not in html:
            raise RuntimeError(
                f"Strawberry's GraphiQL page no longer contains {snippet!r}; "
                "update graph/vendor/graphiql.json (then `make vendor`) to the page it serves"
            )
        html = html.replace(snippet, replacement)
    return html
