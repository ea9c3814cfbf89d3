"""Fuzzed GraphQL multipart uploads (the multipart request spec), written byte by byte so that any
part may be odd: files are real CVs (PDF, DOCX, text) with random bytes changed, inserted, cut or
repeated, or bytes of no format at all; the operations and map fields are mostly right and
sometimes any JSON or none; a part may lack its filename; the preflight header may be missing.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.samples import CV
from tests.support.documents import docx, text_pdf
from tests.support.fuzz import authorizations, json_values
from tests.support.gql import UPLOAD

BOUNDARY = "fuzz-0f5c1e9d8b7a4c3e2d1f0a9b8c7d6e5f"
CONTENT_TYPES = [
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "application/octet-stream",
    None,
]


@dataclass(frozen=True)
class Part:
    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None

    def encode(self) -> bytes:
        disposition = f'form-data; name="{self.name}"'
        if self.filename is not None:
            disposition += f'; filename="{self.filename}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if self.content_type is not None:
            head += f"Content-Type: {self.content_type}\r\n"
        return f"--{BOUNDARY}\r\n{head}\r\n".encode() + self.content + b"\r\n"


@dataclass(frozen=True)
class MultipartUpload:
    """One request as it goes on the wire; Hypothesis prints it as the reproduction."""

    parts: tuple[Part, ...]
    authorization: str | None
    preflight: bool

    def body(self) -> bytes:
        return b"".join(part.encode() for part in self.parts) + f"--{BOUNDARY}--\r\n".encode()

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        if self.preflight:
            headers["Apollo-Require-Preflight"] = "true"
        return headers


def _document_xml_mutated(archive: bytes, mutate: Any) -> bytes:
    """The DOCX with its word/document.xml changed (a change to the zipped bytes would mostly
    just break the archive's checksums)."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.namelist():
            data = source.read(member)
            target.writestr(member, mutate(data) if member == "word/document.xml" else data)
    return out.getvalue()


SEED_PDF = text_pdf(CV.splitlines()[:12])
SEED_DOCX = docx(CV.splitlines()[:12], table=[["Python", "7 years"], ["Kubernetes", "3 years"]])
SEED_TEXT = CV.encode()


@st.composite
def mutations_of(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with up to eight random edits: a byte changed, bytes inserted, a range cut or
    repeated, or the end cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["set", "insert", "cut", "repeat", "truncate"]))
        span = draw(st.integers(1, 64))
        if edit == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=span))
        elif edit == "cut":
            del data[at : at + span]
        elif edit == "repeat":
            data[at:at] = data[at : at + span] * draw(st.integers(1, 50))
        elif edit == "truncate":
            del data[at:]
    return bytes(data)


@st.composite
def docx_with_mutated_xml(draw: st.DrawFn) -> bytes:
    with zipfile.ZipFile(io.BytesIO(SEED_DOCX)) as archive:
        xml = archive.read("word/document.xml")
    mutated = draw(mutations_of(xml))
    return _document_xml_mutated(SEED_DOCX, lambda _: mutated)


def files() -> st.SearchStrategy[bytes]:
    # Bytes of no format come first: a failing example shrinks towards them.
    return st.one_of(
        st.binary(max_size=2048),
        mutations_of(SEED_PDF),
        mutations_of(SEED_DOCX),
        docx_with_mutated_xml(),
        mutations_of(SEED_TEXT),
    )


def _not_the_field() -> st.SearchStrategy[bytes]:
    """What a field holds instead of its JSON object: JSON of another shape, or not JSON at all."""
    shapes = st.sampled_from([b"null", b"[]", b"1", b'"x"', b"true", b"{}", b"[{}]"])
    any_json = json_values().map(lambda value: json.dumps(value).encode())
    return st.one_of(shapes, any_json, st.binary(max_size=40))


ODDITIES = [
    "operations",
    "map",
    "no operations",
    "no map",
    "file part name",
    "no file",
    "two files",
    "no preflight",
    "token",
    "questionnaire",
]


@st.composite
def uploads(draw: st.DrawFn, questionnaire_id: str, bearer: str, oddity: str | None) -> MultipartUpload:
    """A request odd in one way (one of `ODDITIES`), or well-formed (None) from the fuzzer's own
    user so that its file reaches extraction. The caller picks the way, so that each is tried
    whatever Hypothesis prefers to draw, and a failure is reported under its name."""
    filename = draw(st.one_of(st.just("cv.pdf"), st.just("cv.docx"), st.none(), st.text(max_size=30)))
    file = Part("0", draw(files()), filename, draw(st.sampled_from(CONTENT_TYPES)))
    questionnaire = str(draw(st.uuids())) if oddity == "questionnaire" else questionnaire_id
    operations = {"query": UPLOAD, "variables": {"q": questionnaire, "file": None}}
    fields = {
        "operations": draw(_not_the_field()) if oddity == "operations" else json.dumps(operations).encode(),
        "map": draw(_not_the_field()) if oddity == "map" else b'{"0": ["variables.file"]}',
    }
    parts = [Part(name, content) for name, content in fields.items() if oddity != f"no {name}"]
    if oddity == "file part name":
        file = Part(draw(st.text(min_size=1, max_size=8)), file.content, file.filename, file.content_type)
    parts += [file] * {"no file": 0, "two files": 2}.get(oddity or "", 1)
    authorization = draw(authorizations(bearer)) if oddity == "token" else f"Bearer {bearer}"
    return MultipartUpload(tuple(parts), authorization, oddity != "no preflight")
