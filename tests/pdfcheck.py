"""Reading back a PDF in tests: its text (pdftotext) and a rendered page (pdftoppm), both
from poppler-utils (scripts/install-system-deps.sh); its structure with pypdf.

pypdf's text extraction is not used: it garbles the fonts WeasyPrint embeds.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from pypdf import PdfReader


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} not found: run scripts/install-system-deps.sh (poppler-utils)")
    return path


def pdf_text(data: bytes, first: int = 0, last: int = 0) -> str:
    """The text of the pages ``first``..``last`` (1-based; 0: all), in reading order."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    done = subprocess.run([_poppler("pdftotext"), "-enc", "UTF-8", *pages, "-", "-"], input=data,
                          capture_output=True, check=True, timeout=60)
    return done.stdout.decode("utf-8")


def page_count(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def render_first_page(data: bytes, folder: Path) -> bytes:
    """Page 1 as a grey-scale PGM image (pdftoppm at 30 dpi)."""
    source = folder / "page.pdf"
    source.write_bytes(data)
    subprocess.run([_poppler("pdftoppm"), "-gray", "-r", "30", "-f", "1", "-l", "1", "-singlefile",
                    str(source), str(folder / "page")], check=True, timeout=60)
    return (folder / "page.pgm").read_bytes()


def ink_ratio(pgm: bytes) -> float:
    """Share of pixels that are not white in a binary (P5) PGM image."""
    header, _, rest = pgm.partition(b"\n")
    assert header == b"P5", header
    fields: list[bytes] = []
    while len(fields) < 3:  # width, height, maxval (comments aside)
        line, _, rest = rest.partition(b"\n")
        if not line.startswith(b"#"):
            fields += line.split()
    width, height = int(fields[0]), int(fields[1])
    pixels = rest[: width * height]
    return sum(1 for value in pixels if value < 200) / max(len(pixels), 1)
