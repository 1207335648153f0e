"""Checks every figure test shares: PNG and PDF written, PDF fonts embedded (TrueType), no pixel hashes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def pdf_fonts(pdf: Path) -> list[dict]:
    """Fonts of ``pdf`` as ``pdffonts`` (poppler-utils) lists them: name, type, emb; falls back to
    reading the PDF's font dictionaries when pdffonts is not installed."""
    pdf = Path(pdf)
    if shutil.which("pdffonts"):
        out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        rows = []
        for line in out.splitlines()[2:]:
            parts = line.split()
            # name type [encoding...] emb sub uni object ID
            emb = parts[-5]
            rows.append({"name": parts[0], "type": " ".join(parts[1:3]), "emb": emb == "yes"})
        return rows
    # no pdffonts: each font descriptor (matplotlib writes them uncompressed) names its font and, when
    # the font is embedded, its font program (/FontFile2 for TrueType)
    raw = pdf.read_bytes()
    rows = []
    for d in re.findall(rb"<<(?:(?!>>).)*?/Type\s*/FontDescriptor(?:(?!>>).)*>>", raw, flags=re.S):
        name = re.search(rb"/FontName\s*/([^\s/<>\[\]]+)", d)
        rows.append({"name": name.group(1).decode() if name else "?", "type": "TrueType",
                     "emb": re.search(rb"/FontFile[23]?\b", d) is not None})
    return rows


def assert_figure_files(paths: dict) -> None:
    """``save_figure``'s output: a non-empty PNG and PDF, and every PDF font embedded as TrueType."""
    png, pdf = Path(paths["png"]), Path(paths["pdf"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    fonts = pdf_fonts(pdf)
    assert fonts, f"{pdf} has no text"
    assert all(f["emb"] for f in fonts), fonts
    assert all("TrueType" in f["type"] or "CID" in f["type"] for f in fonts), fonts
