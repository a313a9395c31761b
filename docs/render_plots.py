"""Render the pipeline's plots to PNG, offline, for the docs.

`dvc plots show` writes an HTML page that loads Vega from a CDN. This takes the same Vega-Lite
specs (`dvc plots show --json`: dvc.yaml's plots, their templates and the plots/ data in the
workspace) and renders them with vl-convert, which needs no browser and no network, into one
picture of the page: docs/images/plots.png, a row per kind of plot.

    pip install -e '.[docs]'
    python docs/render_plots.py      # from the project root
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import vl_convert

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "plots.png"
GAP = 24


def specs() -> dict[str, dict]:
    """Every plot's Vega-Lite spec, filled with its data, as DVC renders it."""
    shown = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--json"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    return {name: renderers[0]["content"]
            for name, renderers in json.loads(shown.stdout)["data"].items()}


def page(svgs: list[list[str]]) -> str:
    """One SVG holding rows of SVGs, each placed at its offset."""
    placed, y, width = [], 0, 0
    for row in svgs:
        x, height = 0, 0
        for svg in row:
            w, h = (float(v) for v in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups())
            placed.append(svg.replace("<svg ", f'<svg x="{x}" y="{y}" ', 1))
            x, height = x + w + GAP, max(height, h)
        y, width = y + height + GAP, max(width, x - GAP)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y - GAP}">'
            f'<rect width="100%" height="100%" fill="white"/>{"".join(placed)}</svg>')


def main() -> None:
    rows: dict[str, list[str]] = {}  # the plots by model, then each stage's plots by folder
    for name, spec in specs().items():
        group = name.split("/")[1] if name.startswith("plots/") else "by model"
        rows.setdefault(group, []).append(vl_convert.vegalite_to_svg(spec))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(vl_convert.svg_to_png(page(list(rows.values()))))
    print(f"wrote {OUT.relative_to(ROOT)}: {sum(map(len, rows.values()))} plots")


if __name__ == "__main__":
    main()
