"""The vendored GraphiQL bundle (graph/vendor/graphiql/) against its record
(graph/vendor/graphiql.json): every file has its recorded hash, the record asks for exactly what
Strawberry's GraphiQL page asks for (so a Strawberry upgrade that moves GraphiQL or React fails
here, not in a browser), and the refetch script's checks refuse what does not match. No network:
the refetch itself (`make vendor`) is run by hand."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import tarfile

import pytest
from strawberry.http.ides import get_graphql_ide_html

from graph.edges.graphiql import ASSETS, cdn_url
from graph.vendor.fetch import IntegrityError, check_tarball, unpack
from graph.vendored import VendoredFile, VendoredPackage, sri

# The tags of Strawberry's page that load from a CDN: their URL and integrity attribute.
CDN_TAG = re.compile(r'(?:src|href)="(https://[^"]+)"\s+integrity="([^"]+)"')


def test_every_vendored_file_has_the_hash_its_record_names():
    assert len(ASSETS.files()) == 7
    assert ASSETS.problems() == []


def test_the_record_asks_for_what_strawberrys_graphiql_page_asks_for():
    page = get_graphql_ide_html(graphql_ide="graphiql")
    asked = set(CDN_TAG.findall(page))
    recorded = {(cdn_url(package, file), file.integrity) for package, file in ASSETS.files()}
    assert recorded == asked, "Strawberry's page changed: update graph/vendor/graphiql.json, then make vendor"


def test_a_changed_or_missing_file_is_reported(tmp_path):
    copy = tmp_path / "graphiql"
    shutil.copytree(ASSETS.directory, copy)
    (copy / "react.production.min.js").write_bytes(b"/* not React */")
    (copy / "graphiql.min.css").unlink()
    problems = ASSETS.problems(copy)
    assert len(problems) == 2
    assert problems[0].startswith("react.production.min.js: sha384-")
    assert problems[1].startswith("graphiql.min.css: missing (graphiql@3.8.3 graphiql.min.css)")


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(f"package/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


SCRIPT = b"console.log('vendored')"
PACKAGE = VendoredPackage(
    name="@scope/widget",
    version="1.2.3",
    tarball_integrity="",
    license="LICENSE",
    files=(VendoredFile(path="dist/widget.min.js", file="widget.js", integrity=sri(SCRIPT)),),
)


def test_a_tarball_yields_its_recorded_files_and_license_notice():
    files, notice = unpack(PACKAGE, _tarball({"dist/widget.min.js": SCRIPT, "LICENSE": b"MIT License"}))
    assert files == {"widget.js": SCRIPT}
    assert notice == "== @scope/widget@1.2.3\nMIT License\n"


def test_a_package_without_license_text_is_noted_by_its_declared_license():
    package = dataclasses.replace(PACKAGE, license=None)
    tarball = _tarball({"dist/widget.min.js": SCRIPT, "package.json": b'{"license": "ISC"}'})
    assert unpack(package, tarball)[1].startswith("== @scope/widget@1.2.3\nISC, as its package.json declares")


@pytest.mark.parametrize(
    ("contents", "refusal"),
    [
        ({"dist/widget.min.js": b"console.log('tampered')"}, "dist/widget.min.js: sha384-"),
        ({"dist/other.js": SCRIPT}, "no file dist/widget.min.js in the tarball"),
    ],
)
def test_a_file_that_differs_from_its_record_is_refused(contents, refusal):
    with pytest.raises(IntegrityError, match=re.escape(refusal)):
        unpack(PACKAGE, _tarball({**contents, "LICENSE": b"MIT"}))


def test_a_tarball_must_match_both_the_registry_and_the_record():
    tarball = _tarball({"dist/widget.min.js": SCRIPT})
    package = dataclasses.replace(PACKAGE, tarball_integrity=sri(tarball, "sha512"))
    check_tarball(package, package.tarball_integrity, tarball)
    with pytest.raises(IntegrityError, match=re.escape("the registry's dist.integrity is sha512-other")):
        check_tarball(package, "sha512-other", tarball)
    with pytest.raises(IntegrityError, match="the tarball hashes to sha512-"):
        check_tarball(package, package.tarball_integrity, tarball + b"\0")
