"""Benchmark: poster rendering time per format, cached look-ups, and a whole region in one PDF.

Every poster gets its own token, so nothing is served from a cache unless the row says so.
"first" is the first poster of the process (it also loads the fonts); "render" is the median of
``--posters`` later renders; "cached" is a `cached_poster` hit. Times in milliseconds.

    python -m bench.posters [--posters 20] [--region 100] [--json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import statistics
import time
from collections.abc import Callable
from typing import get_args

from venues.posters import (
    PosterContent,
    PosterFormat,
    cached_poster,
    make_qr,
    render_posters_pdf,
)

BASE_URL = "https://singgah.sumselprov.go.id"


def sample_poster(n: int) -> PosterContent:
    """Poster ``n`` of a made-up region: a typical 110-character base64url token of its own."""
    digest = hashlib.shake_256(f"venue-{n}".encode()).digest(82)
    token = base64.urlsafe_b64encode(digest).decode().rstrip("=")  # 110 characters
    return PosterContent(
        venue_name=f"Kantor Kelurahan Sumber Rejo {n}",
        venue_code=f"PLG-{n:04d}",
        checkin_url=f"{BASE_URL}/c/{token}",
        region_name="Kota Palembang",
    )


def milliseconds(work: Callable[[], object]) -> tuple[float, int]:
    """(elapsed ms, size of the result in bytes, or 0 when it has none)."""
    began = time.perf_counter()
    result = work()
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, len(result) if isinstance(result, bytes) else 0


def measure_format(fmt: PosterFormat, first: int, posters: int) -> dict[str, float]:
    # first_ms includes loading the fonts only for the first format measured in the process.
    first_ms, size = milliseconds(lambda: cached_poster(sample_poster(first), fmt))
    cached_ms, _ = milliseconds(lambda: cached_poster(sample_poster(first), fmt))
    renders = [
        milliseconds(lambda n=n: cached_poster(sample_poster(n), fmt))[0]
        for n in range(first + 1, first + 1 + posters)
    ]
    return {
        "first_ms": round(first_ms, 2),
        "render_ms": round(statistics.median(renders), 2),
        "cached_ms": round(cached_ms, 4),
        "bytes": size,
    }


def main_figures(posters: int, region: int) -> dict[str, object]:
    qr_ms = [milliseconds(lambda n=n: make_qr(sample_poster(n).checkin_url))[0] for n in range(20)]
    formats = {
        fmt: measure_format(fmt, first=1000 * (index + 1), posters=posters)
        for index, fmt in enumerate(get_args(PosterFormat))
    }
    contents = [sample_poster(100_000 + n) for n in range(region)]
    region_ms, region_bytes = milliseconds(lambda: render_posters_pdf(contents))
    return {
        "qr": {
            "version": make_qr(sample_poster(0).checkin_url).version,
            "make_qr_ms": round(statistics.median(qr_ms), 2),
        },
        "formats": formats,
        "region_pdf": {
            "venues": region,
            "total_s": round(region_ms / 1000, 2),
            "per_page_ms": round(region_ms / region, 2),
            "bytes": region_bytes,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posters", type=int, default=20, help="renders per format")
    parser.add_argument("--region", type=int, default=100, help="venues in the region PDF")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    figures = main_figures(args.posters, args.region)
    if args.json:
        print(json.dumps(figures))
        return
    qr = figures["qr"]
    print(f"make_qr ({BASE_URL}/c/<110 chars>): version {qr['version']}, {qr['make_qr_ms']} ms")
    print(f"{'format':<7} {'first ms':>9} {'render ms':>10} {'cached ms':>10} {'bytes':>8}")
    for fmt, row in figures["formats"].items():
        print(f"{fmt:<7} {row['first_ms']:>9} {row['render_ms']:>10} {row['cached_ms']:>10} "
              f"{row['bytes']:>8}")  # fmt: skip
    pdf = figures["region_pdf"]
    print(f"region PDF: {pdf['venues']} venues in {pdf['total_s']} s "
          f"({pdf['per_page_ms']} ms a page), {pdf['bytes']} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
