"""Printable venue posters: an A4 page with the check-in QR, the venue name and its human code.

Pure functions of a `PosterContent`, deterministic (same content, same bytes), so a caller can
cache a rendered poster for as long as its check-in URL (which carries the key id) is the same;
`cached_poster` does that in memory. All three formats draw one `PosterLayout` (A4 in points,
origin top left), so the PDF, the SVG and the PNG look alike:

- PDF (reportlab): the print file. The QR is vector rectangles, crisp at any size; the fonts
  are embedded.
- SVG: the QR as one vector path; text refers to the font by name (Bitstream Vera Sans, then
  DejaVu Sans, its metric-compatible superset, then any sans-serif).
- PNG (Pillow): a preview for the venue page, at `dpi` pixels per inch.

The fonts are Bitstream Vera Sans and Sans Bold from inside the reportlab wheel, so the PDF and
PNG need no system font and look the same on every machine. Vera covers Latin-1 (Café, Ñ) but
not other scripts.
"""

from __future__ import annotations

import io
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import reportlab
import segno
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from segno import DataOverflowError

from venues.errors import PosterQrTooLarge

MAX_QR_VERSION = 10  # still scans from arm's length on an A4 poster (DESIGN.md, "Poster token")
QUIET_ZONE_MODULES = 4  # the minimum white border ISO/IEC 18004 asks for around a QR code

PAGE_WIDTH, PAGE_HEIGHT = A4  # points (1/72 inch)
MARGIN = 48.0
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
QR_BOX = 400.0  # side of the QR with its quiet zone: about 14 cm on paper
MUTED_GREY = 0.27  # secondary text: dark enough to print well, lighter than the essentials

INSTRUCTION_ID = "Pindai dengan kamera ponsel Anda untuk check-in"
INSTRUCTION_EN = "Scan with your phone camera to check in"
CODE_LABEL = "Kode tempat / Venue code:"

FONT_DIR = Path(reportlab.__file__).parent / "fonts"
REGULAR_FONT = "SinggahVera"
BOLD_FONT = "SinggahVera-Bold"
FONT_FILES = {REGULAR_FONT: FONT_DIR / "Vera.ttf", BOLD_FONT: FONT_DIR / "VeraBd.ttf"}
SVG_FONT_FAMILY = "'Bitstream Vera Sans', 'DejaVu Sans', sans-serif"

# Characters of the QR alphanumeric mode: 5.5 bits each instead of 8 in byte mode.
QR_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")

PosterFormat = Literal["pdf", "svg", "png"]
MEDIA_TYPES: dict[PosterFormat, str] = {
    "pdf": "application/pdf",
    "svg": "image/svg+xml",
    "png": "image/png",
}


@dataclass(frozen=True)
class PosterContent:
    """What one poster shows. ``checkin_url`` is what the QR encodes."""

    venue_name: str
    venue_code: str  # the human code, e.g. "PLG-7K3Q"
    checkin_url: str  # e.g. "https://singgah.example.go.id/c/<token>"
    region_name: str | None = None


@dataclass(frozen=True)
class TextLine:
    """One centred line of text; ``baseline`` is measured from the top of the page, in points."""

    text: str
    size: float
    baseline: float
    bold: bool = False
    muted: bool = False

    @property
    def font(self) -> str:
        return _font(bold=self.bold)


@dataclass(frozen=True)
class PosterLayout:
    """Where everything goes on the A4 page, in points from the top left corner."""

    lines: tuple[TextLine, ...]
    qr: segno.QRCode
    qr_left: float  # left edge of the first module (inside the quiet zone)
    qr_top: float
    module: float  # side of one module

    def dark_runs(self) -> Iterator[tuple[float, float, float]]:
        """(left, top, width) of each horizontal run of dark modules; each is one module high."""
        for row, modules in enumerate(self.qr.matrix):
            column = 0
            for dark, group in itertools.groupby(modules):
                length = len(list(group))
                if dark:
                    left = self.qr_left + column * self.module
                    yield left, self.qr_top + row * self.module, length * self.module
                column += length


def make_qr(url: str) -> segno.QRCode:
    """The QR code of ``url``: a full QR (never Micro), level M or better, version <= 10.

    segno raises the error correction level above M whenever that costs no extra version. If
    writing the scheme and host in upper case (both are case-insensitive, RFC 3986 3.1 and
    3.2.2) lets them use the denser alphanumeric mode and that gives a smaller QR, the code
    holds that form, e.g. ``HTTPS://SINGGAH.EXAMPLE.GO.ID/c/<token>``; otherwise it holds
    ``url`` exactly. The path and token are never changed: base64url tokens are case-sensitive.

    Raises `PosterQrTooLarge` when even the smaller form needs a version above 10.
    """
    forms: list[str | list[str]] = [url]
    upper_origin = _upper_origin_segments(url)
    if upper_origin:
        forms.append(upper_origin)
    try:
        # A fixed mask skips segno's mask search (most of its ~6 ms), which the version does not
        # depend on. min() keeps the first of equal versions: the URL exactly as given.
        smallest = min(forms, key=lambda form: segno.make_qr(form, error="m", mask=0).version)
        qr = segno.make_qr(smallest, error="m", boost_error=True)
    except DataOverflowError:
        qr = None
    if qr is None or qr.version > MAX_QR_VERSION:
        needs = f"version {qr.version}" if qr else "more than version 40"
        raise PosterQrTooLarge(
            f"the check-in URL ({len(url)} characters) needs a QR code of {needs} at level M; "
            f"a poster allows at most version {MAX_QR_VERSION}: shorten the base URL"
        )
    return qr


def _upper_origin_segments(url: str) -> list[str] | None:
    """``[SCHEME://HOST[:PORT]/, rest]`` when the upper-cased origin is QR alphanumeric."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/".upper()
    # A user-info part ("user@") is case-sensitive; "@" is not alphanumeric, so it stays out.
    if not QR_ALPHANUMERIC.fullmatch(origin) or url[: len(origin)].upper() != origin:
        return None
    rest = url[len(origin) :]
    return [origin, rest] if rest else None


def layout_poster(content: PosterContent) -> PosterLayout:
    """Lay out one poster from the top: name, region, QR, instructions, then the venue code."""
    _register_fonts()
    lines: list[TextLine] = []
    y = MARGIN

    def stack(
        text: str,
        gap: float,
        largest: float,
        smallest: float,
        *,
        rows: int = 1,
        bold: bool = False,
        muted: bool = False,
    ) -> None:
        """Put ``text`` ``gap`` points below the last baseline, wrapped and shrunk to fit."""
        nonlocal y
        size, wrapped = _fit(text, _font(bold=bold), largest, smallest, rows)
        for row, part in enumerate(wrapped):
            y += gap if row == 0 else size * 1.15
            lines.append(TextLine(part, size, y, bold=bold, muted=muted))

    stack(content.venue_name, 40, 34, 18, rows=3, bold=True)
    if content.region_name:
        stack(content.region_name, 30, 16, 10, muted=True)

    qr = make_qr(content.checkin_url)
    module = QR_BOX / (qr.symbol_size(border=QUIET_ZONE_MODULES)[0])
    qr_left = (PAGE_WIDTH - QR_BOX) / 2 + QUIET_ZONE_MODULES * module
    qr_top = y + 12 + QUIET_ZONE_MODULES * module
    y += 12 + QR_BOX

    stack(INSTRUCTION_ID, 34, 17, 12, bold=True)
    stack(INSTRUCTION_EN, 24, 16, 12, muted=True)
    stack(CODE_LABEL, 46, 15, 12, muted=True)
    stack(content.venue_code, 54, 48, 24, bold=True)
    return PosterLayout(tuple(lines), qr, qr_left, qr_top, module)


def _fit(
    text: str, font: str, largest: float, smallest: float, rows: int
) -> tuple[float, list[str]]:
    """The largest size (2-point steps) at which ``text`` wraps into ``rows`` lines or fewer.

    At the smallest size the overflow is cut with an ellipsis, so no text leaves the page.
    """
    text = _printable(text)
    size = largest
    while True:
        lines = simpleSplit(text, font, size, TEXT_WIDTH) or [""]
        if len(lines) <= rows or size <= smallest:
            break
        size = max(smallest, size - 2)
    if len(lines) > rows:
        lines = [*lines[: rows - 1], " ".join(lines[rows - 1 :])]
    return size, [_ellipsize(line, font, size) for line in lines]


def _printable(text: str) -> str:
    """``text`` on one line without control or format characters (XML 1.0 forbids most)."""
    visible = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(visible.split())


def _ellipsize(line: str, font: str, size: float) -> str:
    if pdfmetrics.stringWidth(line, font, size) <= TEXT_WIDTH:
        return line
    while line and pdfmetrics.stringWidth(line + "…", font, size) > TEXT_WIDTH:
        line = line[:-1]
    return line.rstrip() + "…"


def _font(*, bold: bool) -> str:
    return BOLD_FONT if bold else REGULAR_FONT


@cache
def _register_fonts() -> None:
    for name, path in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(path)))


def render_poster_svg(content: PosterContent) -> str:
    """The poster as an A4 SVG document (210 x 297 mm); all text is XML-escaped."""
    layout = layout_poster(content)
    qr_path = "".join(
        f"M{left:.2f} {top:.2f}h{width:.2f}v{layout.module:.2f}h-{width:.2f}z"
        for left, top, width in layout.dark_runs()
    )
    texts = "".join(_svg_text(line) for line in layout.lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 {PAGE_WIDTH:.2f} {PAGE_HEIGHT:.2f}">'
        f"<title>{escape(_printable(content.venue_name))}</title>"
        '<rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" shape-rendering="crispEdges" d="{qr_path}"/>'
        f'<g font-family="{SVG_FONT_FAMILY}" text-anchor="middle" fill="#000">{texts}</g>'
        "</svg>\n"
    )


def _svg_text(line: TextLine) -> str:
    weight = ' font-weight="bold"' if line.bold else ""
    grey = "#" + f"{round(MUTED_GREY * 255):02x}" * 3
    fill = f' fill="{grey}"' if line.muted else ""
    return (
        f'<text x="{PAGE_WIDTH / 2:.2f}" y="{line.baseline:.2f}" font-size="{line.size:.2f}"'
        f"{weight}{fill}>{escape(line.text)}</text>"
    )


def render_poster_png(content: PosterContent, dpi: int = 150) -> bytes:
    """The poster as an A4 greyscale PNG at ``dpi`` (150 gives 1240 x 1754 pixels)."""
    layout = layout_poster(content)
    scale = dpi / 72

    def px(points: float) -> int:
        return round(points * scale)

    image = Image.new("L", (px(PAGE_WIDTH), px(PAGE_HEIGHT)), 255)
    draw = ImageDraw.Draw(image)
    for left, top, width in layout.dark_runs():
        # Rounding both edges of every run keeps neighbouring modules flush, with no seams.
        draw.rectangle(
            (px(left), px(top), px(left + width) - 1, px(top + layout.module) - 1), fill=0
        )
    for line in layout.lines:
        draw.text(
            (px(PAGE_WIDTH / 2), px(line.baseline)),
            line.text,
            fill=round(MUTED_GREY * 255) if line.muted else 0,
            font=_pillow_font(line.font, line.size * scale),
            anchor="ms",  # horizontal middle, vertical baseline: the same anchor as PDF and SVG
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


@lru_cache(maxsize=64)
def _pillow_font(font: str, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_FILES[font]), size)


def render_poster_pdf(content: PosterContent) -> bytes:
    """The poster as a one-page A4 PDF, ready to print."""
    return render_posters_pdf([content])


def render_posters_pdf(contents: Sequence[PosterContent]) -> bytes:
    """One A4 page per poster in one PDF, in the order given (e.g. every venue of a region).

    Raises `ValueError` when ``contents`` is empty: a PDF needs at least one page.
    """
    if not contents:
        raise ValueError("no posters to render")
    buffer = io.BytesIO()
    # invariant: a fixed creation date and document id, so the same posters give the same bytes.
    pdf = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=True)
    pdf.setTitle("Singgah check-in posters")
    pdf.setCreator("Singgah")
    for content in contents:
        _draw_pdf_page(pdf, layout_poster(content))
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _draw_pdf_page(pdf: Canvas, layout: PosterLayout) -> None:
    # PDF measures y upwards from the bottom of the page; the layout measures down from the top.
    path = pdf.beginPath()
    for left, top, width in layout.dark_runs():
        path.rect(left, PAGE_HEIGHT - top - layout.module, width, layout.module)
    pdf.setFillGray(0)
    pdf.drawPath(path, stroke=0, fill=1)
    for line in layout.lines:
        pdf.setFillGray(MUTED_GREY if line.muted else 0)
        pdf.setFont(line.font, line.size)
        pdf.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - line.baseline, line.text)


RENDERERS: dict[PosterFormat, Callable[[PosterContent], bytes]] = {
    "pdf": render_poster_pdf,
    "svg": lambda content: render_poster_svg(content).encode(),
    "png": render_poster_png,
}


@lru_cache(maxsize=128)
def cached_poster(content: PosterContent, fmt: PosterFormat) -> bytes:
    """The poster file in ``fmt`` ("pdf", "svg" or "png"), rendered once, then from memory.

    The cache key is the whole content: its check-in URL carries the key id and the venue, so a
    new signing key or a renamed venue is a new entry and a stale poster is never served. It
    holds the 128 most recent files (under 50 KB each). The media type is ``MEDIA_TYPES[fmt]``.
    """
    return RENDERERS[fmt](content)
