"""Efficiency labels in the spirit of the AI Energy Score label: standalone SVG text, and PNG.

``label_svg`` is pure (no fonts, scripts or images fetched). The label is laid out on a grid: every
line of text has its own row, and its width is measured with DejaVu Sans's advance widths (the font
the SVG asks for), so no text can overlap another whatever the length of a number or a name — a
value that would not fit is shortened with "…". ``label_layout`` returns those boxes (the tests
check them, and the browser tests check the rendered ones). ``write_label_images`` writes SVG and
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

STAR_COLORS = ("#d73027", "#f46d43", "#e6b000", "#66bd63", "#1a9850")
STAR_OUTLINE = "#333"
EMPTY_STAR = "#f2f2f2"
LABEL_WIDTH = 340
PAD = 18

# Advance widths of DejaVu Sans (regular, bold) in thousandths of an em for ASCII 32..126 and a few
# symbols, measured once in Chromium; anything else counts as a full em (never too short).
_CHARS = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~±×–—…·★☆µ°é"
_REGULAR = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775,
    752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390,
    337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838, 838, 838, 500, 1000,
    1000, 318, 896, 896, 636, 500, 615,
)  # fmt: skip
_BOLD = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696,
    696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821,
    837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457,
    365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687,
    716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838, 838, 838, 500, 1000,
    1000, 380, 896, 896, 736, 500, 678,
)  # fmt: skip
_WIDTHS = {False: dict(zip(_CHARS, _REGULAR)), True: dict(zip(_CHARS, _BOLD))}


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Width in px of ``text`` set in DejaVu Sans at ``size`` px (an upper bound for other fonts'
    usual widths; unknown characters count as one em)."""
    table = _WIDTHS[bold]
    return sum(table.get(ch, 1000) for ch in text) * size / 1000


def fit_text(text: str, size: float, width: float, *, bold: bool = False) -> str:
    """``text``, shortened with "…" so that it is at most ``width`` px wide at ``size`` px."""
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def task_name(task: object) -> str:
    """A task as people say it: ``reviews``, or the stem of a CSV path."""
    if task is None or (isinstance(task, float) and math.isnan(task)) or task == "":
        return "no task"
    t = str(task)
    return Path(t).stem if t.lower().endswith(".csv") else t


def _basis_of(row: object) -> str:
    from efflab import format as fmt

    return fmt.energy_basis(row)


@dataclass(frozen=True)
class LabelData:
    """What one label shows. ``stars`` 1..5 (0 = unrated) among ``n_models`` models of its cohort;
    ``uncertainty_rel`` is the relative uncertainty of a modelled energy figure (0.3 = ±30 %), None
    when not known; ``energy_basis`` is "measured", "modelled" or "modelled (user watts)" (empty:
    from ``estimated``)."""

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
    energy_basis: str = ""
    n_models: int = 0

    @property
    def basis(self) -> str:
        """measured / modelled / modelled (user watts)."""
        return self.energy_basis or ("modelled" if self.estimated else "measured")

    @property
    def rating_line(self) -> str:
        """``3 of 5 stars among 7 models on this hardware`` (or ``unrated``)."""
        if not self.stars:
            return "unrated: no eligible measurement"
        among = f" among {self.n_models} model{'s' if self.n_models != 1 else ''}" if self.n_models else ""
        return f"{self.stars} of 5 stars{among} on this hardware"

    @property
    def basis_line(self) -> str:
        """``MODELLED energy ±50 %`` / ``MEASURED energy`` (the source has its own row)."""
        unc = (
            f" ±{self.uncertainty_rel * 100:.0f} %"
            if self.uncertainty_rel and self.basis != "measured"
            else ""
        )
        return f"{self.basis.upper()} energy{unc}"

    @classmethod
    def from_row(cls, row: object, *, date: str | None = None, n_models: int = 0) -> LabelData:
        """From a ``model_ratings`` row (pandas Series or dict); ``n_models`` is the cohort's size."""
        r = row  # Series and dict both support __getitem__ / get
        acc = r.get("accuracy")  # type: ignore[attr-defined]
        unc = r.get("energy_uncertainty_rel")  # type: ignore[attr-defined]
        basis = _basis_of(r)
        return cls(
            model=str(r["model"]),  # type: ignore[index]
            wh_per_1000_queries=float(r["wh_per_1000_queries"]),  # type: ignore[index]
            stars=int(r.get("stars", 0) or 0),  # type: ignore[attr-defined]
            task=task_name(r.get("task")),  # type: ignore[attr-defined]
            hardware=str(r.get("hardware") or ""),  # type: ignore[attr-defined]
            date=date or str(r.get("timestamp") or "")[:10],  # type: ignore[attr-defined]
            estimated=basis != "measured",
            energy_source=str(r.get("energy_source") or ""),  # type: ignore[attr-defined]
            accuracy=None if acc is None or acc != acc else float(acc),
            config=f"batch {int(r.get('batch_size', 0) or 0)} · {r.get('precision', '')}",  # type: ignore[attr-defined]
            uncertainty_rel=None if unc is None or unc != unc else float(unc),
            energy_basis=basis,
            n_models=n_models,
        )


def energy_value(wh: float | None) -> tuple[str, str]:
    """``(number, unit)`` for Wh per 1000 queries with an SI prefix and no scientific notation
    (:func:`efflab.format.si`): ``("3.8", "mWh")``, ``("1.23", "Wh")``, ``("123", "kWh")``."""
    from efflab import format as fmt

    text = fmt.si(wh, "Wh")
    if text == fmt.MISSING:
        return text, ""
    num, _, unit = text.partition(" ")
    return num, unit


@dataclass(frozen=True)
class TextBox:
    """One line of text of a label: its anchor ``x`` (left), baseline ``y``, font size and weight,
    and its measured extent (``left``, ``top``, ``right``, ``bottom`` in px)."""

    text: str
    x: float
    y: float
    size: float
    bold: bool = False
    fill: str = "#222"
    role: str = ""

    @property
    def width(self) -> float:
        return text_width(self.text, self.size, bold=self.bold)

    @property
    def box(self) -> tuple[float, float, float, float]:
        # DejaVu Sans: ascent 0.93 em, descent 0.24 em.
        return (self.x, self.y - 0.93 * self.size, self.x + self.width, self.y + 0.24 * self.size)


@dataclass(frozen=True)
class LabelLayout:
    width: int
    height: int
    texts: tuple[TextBox, ...]
    stars_y: float
    star_r: float


def label_layout(d: LabelData, *, width: int = LABEL_WIDTH) -> LabelLayout:
    """Where every line of ``d``'s label goes: one row per line, values shortened to fit."""
    inner = width - 2 * PAD
    texts: list[TextBox] = []

    def line(text: str, y: float, size: float, *, bold: bool = False, fill: str = "#222", x: float = PAD,
             room: float = inner, role: str = "") -> None:  # fmt: skip
        texts.append(TextBox(fit_text(text, size, room, bold=bold), x, y, size, bold, fill, role))

    line("efflab energy rating", 29, 16, bold=True, fill="#fff", role="title")
    line(d.model, 72, 18, bold=True, fill="#111", role="model")
    acc = f"accuracy {d.accuracy * 100:.1f} %" if d.accuracy is not None else "accuracy not measured"
    line(acc, 90, 11, fill="#555", role="accuracy")
    stars_y, star_r = 114.0, 14.0
    line(d.rating_line, 146, 11, fill="#333", role="rating")
    num, unit = energy_value(d.wh_per_1000_queries)
    line(f"{num} {unit}".strip(), 180, 24, bold=True, fill="#111", role="energy")
    line("per 1000 queries", 197, 11, fill="#555", role="per")
    kind_color = "#1a7f37" if d.basis == "measured" else "#a34d00"
    line(d.basis_line, 216, 11, bold=True, fill=kind_color, role="basis")
    rows = [
        ("task", d.task),
        ("hardware", d.hardware),
        ("config", d.config),
        ("measured on", d.date),
        ("source", d.energy_source or "unknown"),
    ]
    key_w = 84
    y = 246.0
    for k, v in rows:
        line(k, y, 11, fill="#555", role="key")
        line(str(v), y, 11, x=PAD + key_w, room=inner - key_w, role="value")
        y += 17
    return LabelLayout(width, int(y + 4), tuple(texts), stars_y, star_r)


def _star_points(cx: float, cy: float, r: float) -> str:
    pts = []
    for i in range(10):
        a = math.pi / 2 + i * math.pi / 5
        rr = r if i % 2 == 0 else r * 0.42
        pts.append(f"{cx + rr * math.cos(a):.1f},{cy - rr * math.sin(a):.1f}")
    return " ".join(pts)


_BOLD_ATTR = ' font-weight="bold"'


def label_svg(d: LabelData, *, width: int = LABEL_WIDTH) -> str:
    """An SVG label: model, stars (outlined, with the rating's basis), Wh per 1000 queries, its
    energy basis (MEASURED / MODELLED, ± and source), task, hardware, configuration, date.
    Self-contained (no fonts or scripts fetched)."""
    lay = label_layout(d, width=width)
    h = lay.height
    color = STAR_COLORS[d.stars - 1] if 1 <= d.stars <= 5 else EMPTY_STAR
    stars = "".join(
        f'<polygon class="efflab-star{" on" if i < d.stars else ""}" points="{_star_points(PAD + lay.star_r + i * 34, lay.stars_y, lay.star_r)}" '
        f'fill="{color if i < d.stars else EMPTY_STAR}" stroke="{STAR_OUTLINE if i < d.stars else "#999"}" '
        'stroke-width="1.4" stroke-linejoin="round"/>'
        for i in range(5)
    )
    texts = "".join(
        f'<text class="efflab-label-text" data-role="{t.role}" x="{t.x:g}" y="{t.y:g}" font-size="{t.size:g}"'
        f'{_BOLD_ATTR if t.bold else ""} fill="{t.fill}">{escape(t.text)}</text>'
        for t in lay.texts
    )
    stars_word = d.rating_line
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        f'font-family="DejaVu Sans, Verdana, sans-serif" role="img" class="efflab-label-svg" '
        f'aria-label="efficiency label for {escape(d.model)}: {escape(stars_word)}">'
        f'<rect x="1" y="1" width="{width - 2}" height="{h - 2}" rx="10" fill="#fff" stroke="#333" stroke-width="2"/>'
        f'<rect x="1" y="1" width="{width - 2}" height="44" rx="10" fill="#333"/>'
        f'<rect x="1" y="30" width="{width - 2}" height="15" fill="#333"/>'
        f'<line x1="{PAD}" y1="228" x2="{width - PAD}" y2="228" stroke="#ddd"/>'
        f"{stars}{texts}"
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
        height = label_layout(data).height
        fig = _png_figure(label_svg(data), LABEL_WIDTH, height)
        opts = {"format": "png", "width": LABEL_WIDTH, "height": height, "scale": scale}
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
