"""Posters: every format is decoded by an independent QR reader (zxing-cpp) back to its URL."""

from __future__ import annotations

import base64
import hashlib
import io
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit, urlunsplit

import pypdfium2
import pytest
import resvg_py
import segno
import zxingcpp
from PIL import Image
from reportlab.pdfbase import pdfmetrics

from venues.errors import PosterQrTooLarge
from venues.posters import (
    FONT_FILES,
    INSTRUCTION_EN,
    INSTRUCTION_ID,
    MAX_QR_VERSION,
    MEDIA_TYPES,
    QUIET_ZONE_MODULES,
    TEXT_WIDTH,
    PosterContent,
    cached_poster,
    layout_poster,
    make_qr,
    render_poster_pdf,
    render_poster_png,
    render_poster_svg,
    render_posters_pdf,
)

# A base64url token of the typical size (about 110 characters), with both cases and "-" or "_".
TOKEN = base64.urlsafe_b64encode(hashlib.shake_256(b"singgah").digest(82)).decode().rstrip("=")
LOCAL_URL = f"http://127.0.0.1:8000/c/{TOKEN}"
PROVINCE_URL = f"https://singgah.sumselprov.go.id/c/{TOKEN}"
TYPICAL_URLS = [LOCAL_URL, PROVINCE_URL]
AWKWARD_NAMES = [
    "Masjid Agung Palembang & Pasar 16 Ilir",
    "Kantor Camat <Ilir Barat I>",
    'Café Ñ "Pempek" 5 Ilir',
]
DPI = 150
SVG = "{http://www.w3.org/2000/svg}"


def poster(
    name: str = "Kantor Gubernur Sumatera Selatan",
    url: str = LOCAL_URL,
    code: str = "PLG-7K3Q",
    region: str | None = "Kota Palembang",
) -> PosterContent:
    return PosterContent(venue_name=name, venue_code=code, checkin_url=url, region_name=region)


def decoded_urls(image: Image.Image) -> list[str]:
    return [
        found.text
        for found in zxingcpp.read_barcodes(image)
        if found.format == zxingcpp.BarcodeFormat.QRCode
    ]


def normalised(url: str) -> str:
    """Scheme and host lower-cased (both are case-insensitive); path and token as they are."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def png_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def pdf_pages(data: bytes) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(data)
    try:
        return [page.render(scale=DPI / 72).to_pil() for page in document]
    finally:
        document.close()


def pdf_texts(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


def parse_svg(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well formed


def svg_text(svg: str) -> str:
    return " ".join(text.text or "" for text in parse_svg(svg).iter(f"{SVG}text"))


def svg_image(svg: str) -> Image.Image:
    fonts = [str(path) for path in FONT_FILES.values()]
    png = resvg_py.svg_to_bytes(svg_string=svg, dpi=DPI, skip_system_fonts=True, font_files=fonts)
    return png_image(png)


@pytest.mark.parametrize("url", TYPICAL_URLS)
def test_typical_urls_fit_version_10_at_level_m_or_better(url: str) -> None:
    assert 105 <= len(TOKEN) <= 115
    qr = make_qr(url)
    assert qr.version <= MAX_QR_VERSION
    assert qr.error in {"M", "Q", "H"}
    assert not qr.is_micro


def test_a_url_too_long_for_version_10_is_a_clear_domain_error() -> None:
    with pytest.raises(PosterQrTooLarge, match="at most version 10") as raised:
        make_qr(f"https://singgah.sumselprov.go.id/{'x' * 160}/c/{TOKEN}")
    assert raised.value.status == 500
    assert raised.value.slug == "poster-qr-too-large"
    with pytest.raises(PosterQrTooLarge, match="more than version 40"):
        make_qr("https://singgah.example/c/" + TOKEN * 30)


def test_upper_case_origin_is_used_only_when_it_makes_a_smaller_code() -> None:
    # 110 characters: version 7 in byte mode, version 6 with the origin in alphanumeric mode.
    url = "https://singgah.sumselprov.go.id/c/" + "aB" * 37 + "z"
    assert segno.make_qr(url, error="m").version == 7
    qr = make_qr(url)
    assert qr.version == 6
    (text,) = decoded_urls(png_image(render_poster_png(poster(url=url), dpi=DPI)))
    assert text.startswith("HTTPS://SINGGAH.SUMSELPROV.GO.ID/c/aBaB")
    assert normalised(text) == url
    # Where upper case gains nothing, the code holds the URL exactly as given.
    assert make_qr(PROVINCE_URL).version == segno.make_qr(PROVINCE_URL, error="m").version


@pytest.mark.parametrize("url", TYPICAL_URLS)
def test_png_decodes_to_the_checkin_url(url: str) -> None:
    image = png_image(render_poster_png(poster(url=url), dpi=DPI))
    assert image.size == (1240, 1754)  # A4 at 150 dpi
    assert decoded_urls(image) == [url]


@pytest.mark.parametrize("url", TYPICAL_URLS)
def test_pdf_is_one_a4_page_that_decodes_to_the_checkin_url(url: str) -> None:
    data = render_poster_pdf(poster(url=url))
    document = pypdfium2.PdfDocument(data)
    try:
        assert [tuple(round(side) for side in page.get_size()) for page in document] == [(595, 842)]
    finally:
        document.close()
    (page,) = pdf_pages(data)
    assert decoded_urls(page) == [url]


@pytest.mark.parametrize("url", TYPICAL_URLS)
def test_svg_decodes_to_the_checkin_url(url: str) -> None:
    svg = render_poster_svg(poster(url=url))
    root = parse_svg(svg)
    assert (root.get("width"), root.get("height")) == ("210mm", "297mm")
    assert decoded_urls(svg_image(svg)) == [url]


def test_region_pdf_has_one_page_per_venue_each_with_its_own_url() -> None:
    contents = [
        poster(name=f"Kantor Kelurahan {n}", code=f"PLG-00{n}", url=f"{LOCAL_URL[:-3]}{n}x{n}")
        for n in range(1, 4)
    ]
    data = render_posters_pdf(contents)
    pages = pdf_pages(data)
    assert len(pages) == len(contents)
    assert [decoded_urls(page) for page in pages] == [[c.checkin_url] for c in contents]
    assert [c.venue_code in text for c, text in zip(contents, pdf_texts(data), strict=True)] == [
        True
    ] * len(contents)


def test_an_empty_region_is_refused_rather_than_an_invalid_pdf() -> None:
    with pytest.raises(ValueError, match="no posters"):
        render_posters_pdf([])


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_names_with_markup_and_accents_render_in_every_format(name: str) -> None:
    content = poster(name=name, region="Kota Palembang & <Sekitarnya>")
    text = svg_text(render_poster_svg(content))
    assert f"{name} Kota Palembang & <Sekitarnya> Pindai" in text
    (pdf_text,) = pdf_texts(render_poster_pdf(content))
    assert name in pdf_text.replace("\r\n", " ")
    assert decoded_urls(png_image(render_poster_png(content))) == [LOCAL_URL]


def test_poster_text_has_both_languages_and_the_typed_fallback_code() -> None:
    (text,) = pdf_texts(render_poster_pdf(poster(region=None)))
    lines = text.splitlines()
    for expected in (INSTRUCTION_ID, INSTRUCTION_EN, "Kode tempat / Venue code:", "PLG-7K3Q"):
        assert expected in lines
    assert "Kota Palembang" not in text


def test_control_characters_cannot_break_the_svg() -> None:
    svg = render_poster_svg(poster(name="Pos\x0bJaga\x00 Perbatasan\u200e\n Lubuklinggau"))
    assert svg_text(svg).startswith("Pos Jaga Perbatasan Lubuklinggau Kota Palembang")


def test_long_names_wrap_then_shrink_then_are_cut_inside_the_margins() -> None:
    name = "Kantor Kecamatan Ilir Barat I Kota Palembang"
    wrapped = layout_poster(poster(name=name))
    assert [line.text for line in wrapped.lines[:2]] == [
        "Kantor Kecamatan Ilir",
        "Barat I Kota Palembang",
    ]
    assert wrapped.lines[0].size == 34  # two lines fit at the largest size: no shrinking
    endless = layout_poster(poster(name=" ".join(["Dinas Kesehatan"] * 40)))
    name_lines = [line for line in endless.lines if line.bold][:-2]  # less instruction and code
    assert len(name_lines) == 3
    assert name_lines[-1].text.endswith("…")
    for line in endless.lines:
        assert pdfmetrics.stringWidth(line.text, line.font, line.size) <= TEXT_WIDTH


def test_png_keeps_a_white_quiet_zone_of_four_modules_around_the_qr() -> None:
    layout = layout_poster(poster())
    image = png_image(render_poster_png(poster(), dpi=DPI))
    scale = DPI / 72
    modules = layout.qr.symbol_size(border=0)[0]
    quiet = QUIET_ZONE_MODULES * layout.module
    outer = [
        round((layout.qr_left - quiet) * scale),
        round((layout.qr_top - quiet) * scale),
        round((layout.qr_left + (modules * layout.module) + quiet) * scale),
        round((layout.qr_top + (modules * layout.module) + quiet) * scale),
    ]
    inner = [
        round(layout.qr_left * scale) - 1,
        round(layout.qr_top * scale) - 1,
        round((layout.qr_left + modules * layout.module) * scale) + 1,
        round((layout.qr_top + modules * layout.module) * scale) + 1,
    ]
    band = image.crop(outer)
    band.paste(
        255, (inner[0] - outer[0], inner[1] - outer[1], inner[2] - outer[0], inner[3] - outer[1])
    )
    assert band.getextrema() == (255, 255)
    # ...and the QR itself is there, inside the band.
    assert image.crop(inner).getextrema() == (0, 255)


def test_rendering_is_deterministic_so_posters_can_be_cached() -> None:
    content = poster()
    assert render_poster_svg(content) == render_poster_svg(poster())
    assert render_poster_png(content) == render_poster_png(poster())
    assert render_poster_pdf(content) == render_poster_pdf(poster())


def test_cached_poster_renders_each_format_once() -> None:
    content = poster(name="Terminal Karya Jaya")
    magic = {"pdf": b"%PDF-", "svg": b"<?xml", "png": b"\x89PNG"}
    for fmt in ("pdf", "svg", "png"):
        first = cached_poster(content, fmt)
        assert first.startswith(magic[fmt])
        assert cached_poster(content, fmt) is first
    assert set(MEDIA_TYPES) == set(magic)
    assert cached_poster(poster(name="Terminal Alang-Alang Lebar"), "png") != first
