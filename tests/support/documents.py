"""CV files made by the tests: text PDFs (reportlab), scanned-looking PDFs (an image and no text),
encrypted and truncated PDFs (pypdf), DOCX files (their XML, zipped by hand), and hostile files:
small in bytes, costly to read (PDF objects and zips written byte by byte, so they can lie)."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas


def text_pdf(pages: list[str]) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for page in pages:
        y = 800
        for line in page.splitlines():
            pdf.drawString(50, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def scanned_pdf(pages: int = 2) -> bytes:
    """What a scanner makes: each page one picture of text, no text layer."""
    picture = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(picture).text((20, 20), "Jane Doe - Senior Engineer", fill="black")
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for _ in range(pages):
        pdf.drawImage(ImageReader(picture), 40, 400, width=500, height=250)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted_pdf(text: str, password: str = "secret") -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(text_pdf([text]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _paragraph(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def docx(paragraphs: list[str], table: list[list[str]] | None = None, pages: int | None = None) -> bytes:
    body = "".join(_paragraph(p) for p in paragraphs)
    if table:
        rows = "".join(
            "<w:tr>" + "".join(f"<w:tc>{_paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>"
            for row in table
        )
        body += f"<w:tbl>{rows}</w:tbl>"
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}">'
        f"<w:body>{body}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("word/document.xml", document)
        if pages is not None:
            archive.writestr("docProps/app.xml", f"<Properties><Pages>{pages}</Pages></Properties>")
    return buffer.getvalue()


# --- Hostile documents: small files that would cost a reader a lot (issue 8) -----------------


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip members hold it
    return packer.compress(data) + packer.flush()


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1; the first is the catalog) with a correct xref."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes) -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _pages_pdf(pages: int, content: bytes) -> bytes:
    """`pages` pages that all draw the same content stream (object 4)."""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 3 0 R >> >> >>"
    )
    return _raw_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)]
        + [_FONT, _stream(content)]
        + [page] * pages
    )


def shared_stream_pdf(pages: int = 30, operators: int = 100_000) -> bytes:
    """~6 KB: every page shares one content stream of a name and `operators` text-positioning
    operators (seconds of pypdf's time per page, and almost no text)."""
    return _pages_pdf(pages, b"BT /F1 12 Tf 72 720 Td (Jane Doe) Tj " + b"0 0 Td " * operators + b"ET")


def flate_bomb_pdf(inflated: int = 64 * 1024 * 1024) -> bytes:
    """A page whose content stream inflates from ~64 KB to `inflated` bytes."""
    return _pages_pdf(1, b"BT /F1 12 Tf 72 720 Td (Jane) Tj ET " + b" " * inflated)


def nested_array_pdf(depth: int = 100_000) -> bytes:
    """A content stream of arrays nested `depth` deep: a recursive parser's stack runs out."""
    return _pages_pdf(1, b"BT /F1 12 Tf 72 720 Td (Jane) Tj ET " + b"[" * depth + b"]" * depth)


def deep_page_tree_pdf(depth: int = 101) -> bytes:
    """One page under `depth` nested page-tree nodes."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        number = 2 + level
        parent = b"/Parent %d 0 R " % (number - 1) if level else b""
        objects.append(b"<< /Type /Pages %s/Kids [%d 0 R] /Count 1 >>" % (parent, number + 1))
    leaf = len(objects) + 1
    objects.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] >>" % (leaf - 1))
    return _raw_pdf(objects)


def two_column_pdf(lines: int = 30) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for i in range(lines):
        pdf.drawString(50, 800 - 14 * i, f"Skill {i}")
        pdf.drawString(320, 800 - 14 * i, f"Built the billing service, part {i}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def padded_pdf(text: str, size: int) -> bytes:
    """A readable one-page PDF of about `size` bytes: the rest is an attachment of noise."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([text]))))
    writer.add_attachment("noise.bin", random.Random(0).randbytes(size))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _raw_zip(members: list[tuple[str, bytes, int | None]], version: int = 20) -> bytes:
    """A zip of (name, data, declared size or None for the true one), deflated, written by hand
    so that its directory may lie about sizes (or about the zip version needed to read it)."""
    out, central = bytearray(), bytearray()
    for name, data, declared in members:
        packed, crc, size = _deflate(data), zlib.crc32(data), len(data) if declared is None else declared
        fields = (version, 0, 8, 0, 0, crc, len(packed), size, len(name))
        central += struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIH", *fields)
        central += struct.pack("<HHHHII", 0, 0, 0, 0, 0, len(out)) + name.encode()
        out += struct.pack("<I", 0x04034B50) + struct.pack("<HHHHHIIIH", *fields) + b"\0\0" + name.encode()
        out += packed
    count = len(members)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def _docx_of(document: bytes, declared: int | None = None, version: int = 20) -> bytes:
    return _raw_zip(
        [
            ("[Content_Types].xml", _CONTENT_TYPES.encode(), None),
            ("_rels/.rels", _RELS.encode(), None),
            ("word/document.xml", document, declared),
        ],
        version,
    )


def docx_from_the_future() -> bytes:
    """A DOCX whose zip says it needs version 20.8 of the format to be read (there is none)."""
    return _docx_of(_document(_paragraph("Jane Doe")), version=208)


def _document(body: str) -> bytes:
    return f'<?xml version="1.0"?><w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>'.encode()


def docx_bomb(inflated: int = 64 * 1024 * 1024, declared: int | None = None, filler: bytes = b" ") -> bytes:
    """word/document.xml of `inflated` bytes (a name, then `filler` over and over) in a few dozen
    KB, its size declared as `declared` (the truth when None)."""
    head, tail = _document(_paragraph("Jane Doe")).split(b"</w:body>")
    return _docx_of(head + filler * (inflated // len(filler)) + b"</w:body>" + tail, declared)


def docx_with_columns(num: str) -> bytes:
    section = f'<w:sectPr><w:cols w:num="{num}"/></w:sectPr>'
    return _docx_of(_document(_paragraph("Jane Doe, engineer") + section))


def docx_malformed() -> bytes:
    return _docx_of(_document(_paragraph("Jane Doe")).replace(b"</w:body>", b"</w:bod>"))


def docx_billion_laughs() -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol;" if i == 1 else f"&lol{i - 1};") * 10}">' for i in range(1, 10)
    )
    document = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>'
    )
    return _docx_of(document.encode())
