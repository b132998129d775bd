"""Efficiency labels in the spirit of the AI Energy Score label: standalone SVG text, and PNG.

``label_svg`` is pure (no fonts, scripts or images fetched). ``write_label_images`` writes SVG and
PNG files; the PNG is rendered by kaleido (plotly's static-image engine, which drives the system's
Chromium) so every label of a report costs one browser start, not one each.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from efflab.errors import ReportError

STAR_COLORS = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
LABEL_WIDTH = 320
LABEL_HEIGHT = 300


def task_name(task: object) -> str:
    """A task as people say it: ``reviews``, or the stem of a CSV path."""
    if task is None or (isinstance(task, float) and math.isnan(task)) or task == "":
        return "no task"
    t = str(task)
    return Path(t).stem if t.lower().endswith(".csv") else t


@dataclass(frozen=True)
class LabelData:
    """What one label shows. ``stars`` 1..5 (0 = unrated); ``uncertainty_rel`` is the relative
    uncertainty of an estimated energy figure (0.3 = ±30 %), None when not known."""

    model: str
    wh_per_1000_queries: float
    stars: int
    task: str
    hardware: str
    date: str
    estimated: bool
    energy_source: str = ""
    accuracy: float | None = None
    config: str = ""
    uncertainty_rel: float | None = None

    @classmethod
    def from_row(cls, row: object, *, date: str | None = None) -> LabelData:
        """From a ``model_ratings`` row (pandas Series or dict)."""
        r = row  # Series and dict both support __getitem__ / get
        acc = r.get("accuracy")  # type: ignore[attr-defined]
        unc = r.get("energy_uncertainty_rel")  # type: ignore[attr-defined]
        return cls(
            model=str(r["model"]),  # type: ignore[index]
            wh_per_1000_queries=float(r["wh_per_1000_queries"]),  # type: ignore[index]
            stars=int(r.get("stars", 0) or 0),  # type: ignore[attr-defined]
            task=task_name(r.get("task")),  # type: ignore[attr-defined]
            hardware=str(r.get("hardware") or ""),  # type: ignore[attr-defined]
            date=date or str(r.get("timestamp") or "")[:10],  # type: ignore[attr-defined]
            estimated=not bool(r.get("energy_measured", False)),  # type: ignore[attr-defined]
            energy_source=str(r.get("energy_source") or ""),  # type: ignore[attr-defined]
            accuracy=None if acc is None or acc != acc else float(acc),
            config=f"{r.get('precision', '')} · batch {int(r.get('batch_size', 0) or 0)}",  # type: ignore[attr-defined]
            uncertainty_rel=None if unc is None or unc != unc else float(unc),
        )


def label_svg(d: LabelData, *, width: int = LABEL_WIDTH) -> str:
    """An SVG label: model, stars, Wh per 1000 queries, task, hardware, date, and ESTIMATED where the
    energy was not measured. Self-contained (no fonts or scripts fetched)."""
    h = LABEL_HEIGHT
    stars = "".join(
        f'<text x="{24 + i * 34}" y="132" font-size="32" fill="{STAR_COLORS[d.stars - 1] if i < d.stars else "#ddd"}">★</text>'
        for i in range(5)
    )
    if d.estimated:
        unc = f" ±{d.uncertainty_rel * 100:.0f} %" if d.uncertainty_rel else ""
        kind = f"ESTIMATED energy{unc}"
    else:
        kind = "MEASURED energy"
    kind_color = "#b35806" if d.estimated else "#1a9850"
    acc = f"accuracy {d.accuracy * 100:.1f} %" if d.accuracy is not None else "accuracy not measured"
    rows = [
        ("task", d.task),
        ("hardware", d.hardware[:40]),
        ("config", d.config),
        ("measured on", d.date),
        ("source", d.energy_source),
    ]
    lines = "".join(
        f'<text x="20" y="{196 + i * 18}" font-size="11" fill="#555">{escape(k)}</text>'
        f'<text x="100" y="{196 + i * 18}" font-size="11" fill="#222">{escape(str(v))}</text>'
        for i, (k, v) in enumerate(rows)
    )
    stars_word = f"{d.stars} of 5 stars" if d.stars else "unrated"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        f'font-family="DejaVu Sans, Arial, sans-serif" role="img" '
        f'aria-label="efficiency label for {escape(d.model)}: {stars_word}">'
        f'<rect x="1" y="1" width="{width - 2}" height="{h - 2}" rx="10" fill="#fff" stroke="#333" stroke-width="2"/>'
        f'<rect x="1" y="1" width="{width - 2}" height="44" rx="10" fill="#333"/>'
        f'<rect x="1" y="30" width="{width - 2}" height="15" fill="#333"/>'
        f'<text x="20" y="30" font-size="16" font-weight="bold" fill="#fff">efflab energy rating</text>'
        f'<text x="20" y="78" font-size="18" font-weight="bold" fill="#111">{escape(d.model)}</text>'
        f'<text x="20" y="96" font-size="11" fill="#555">{escape(acc)}</text>'
        f"{stars}"
        f'<text x="20" y="162" font-size="20" font-weight="bold" fill="#111">{d.wh_per_1000_queries:.3g} Wh</text>'
        f'<text x="20" y="178" font-size="11" fill="#555">per 1000 queries</text>'
        f'<text x="{width - 20}" y="162" font-size="11" font-weight="bold" text-anchor="end" fill="{kind_color}">{escape(kind)}</text>'
        f"{lines}"
        "</svg>"
    )


def _png_figure(svg: str, width: int, height: int) -> object:
    """A plotly figure whose only content is ``svg`` as a full-size layout image (kaleido renders it)."""
    import plotly.graph_objects as go

    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    fig = go.Figure()
    fig.add_layout_image(
        source=uri, xref="paper", yref="paper", x=0, y=1, sizex=1, sizey=1,
        xanchor="left", yanchor="top", sizing="stretch", layer="above",
    )  # fmt: skip
    fig.update_layout(
        width=width,
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        xaxis={"visible": False},
        yaxis={"visible": False},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def write_label_pngs(items: Sequence[tuple[LabelData, Path]], *, scale: float = 2.0) -> list[Path]:
    """Render each label to a PNG file (``scale`` × its SVG size) in one Chromium session.

    Raises:
        ReportError: kaleido or Chromium is missing or failed (the message says which and the fix).
    """
    if not items:
        return []
    try:
        import kaleido
    except ImportError as e:
        msg = "PNG labels need kaleido (pip install kaleido) and Chromium; use label_formats: [svg] without them"
        raise ReportError(msg) from e
    jobs = []
    for data, path in items:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig = _png_figure(label_svg(data), LABEL_WIDTH, LABEL_HEIGHT)
        opts = {"format": "png", "width": LABEL_WIDTH, "height": LABEL_HEIGHT, "scale": scale}
        jobs.append({"fig": fig, "path": str(path), "opts": opts})
    try:
        kaleido.write_fig_from_object_sync(jobs)
    except Exception as e:  # kaleido/choreographer raise many types (no Chromium, crashed tab)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        msg = f"could not render PNG labels with kaleido ({type(e).__name__}: {first}); install chromium or use label_formats: [svg]"
        raise ReportError(msg) from e
    missing = [str(p) for _, p in items if not Path(p).is_file()]
    if missing:
        msg = f"kaleido wrote no PNG for {', '.join(missing)}; use label_formats: [svg]"
        raise ReportError(msg)
    return [Path(p) for _, p in items]


def label_png(d: LabelData, *, scale: float = 2.0) -> bytes:
    """The label as PNG bytes (see ``write_label_pngs``)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="efflab-label-") as tmp:
        path = Path(tmp) / "label.png"
        write_label_pngs([(d, path)], scale=scale)
        return path.read_bytes()


def write_label_images(
    items: Sequence[tuple[LabelData, Path]], formats: Sequence[str] = ("svg", "png"), *, scale: float = 2.0
) -> list[Path]:
    """Write each label as ``<stem>.svg`` and/or ``<stem>.png`` (the paths in ``items`` are stems;
    their suffix is replaced). Returns the files written.

    Raises:
        ReportError: an unknown format, or PNG rendering failed (SVG files are written first).
    """
    for f in formats:
        if f not in ("svg", "png"):
            msg = f"unknown label format {f!r}; use svg or png"
            raise ReportError(msg)
    written: list[Path] = []
    if "svg" in formats:
        for data, stem in items:
            p = Path(stem).with_suffix(".svg")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(label_svg(data), encoding="utf-8")
            written.append(p)
    if "png" in formats:
        written += write_label_pngs([(d, Path(s).with_suffix(".png")) for d, s in items], scale=scale)
    return written


def label_slug(text: str) -> str:
    """A file-name-safe stem for a label: the name's safe characters, plus a short hash of the
    whole name whenever characters were dropped, so ``<img …>`` names neither come out empty nor
    collide with each other."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60]
    if safe == text and safe:
        return safe
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe}-{digest}" if safe else digest
