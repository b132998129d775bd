"""Efficiency labels in the spirit of the AI Energy Score label, as standalone SVG text."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

STAR_COLORS = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")


@dataclass(frozen=True)
class LabelData:
    """What one label shows. ``stars`` 1..5 (0 = unrated)."""

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

    @classmethod
    def from_row(cls, row: object, *, date: str | None = None) -> LabelData:
        """From a ``model_ratings`` row (pandas Series or dict)."""
        r = row  # Series and dict both support __getitem__ / get
        acc = r.get("accuracy")  # type: ignore[attr-defined]
        return cls(
            model=str(r["model"]),  # type: ignore[index]
            wh_per_1000_queries=float(r["wh_per_1000_queries"]),  # type: ignore[index]
            stars=int(r.get("stars", 0) or 0),  # type: ignore[attr-defined]
            task=str(r.get("task") or "no task"),  # type: ignore[attr-defined]
            hardware=str(r.get("hardware") or ""),  # type: ignore[attr-defined]
            date=date or str(r.get("timestamp") or "")[:10],  # type: ignore[attr-defined]
            estimated=not bool(r.get("energy_measured", False)),  # type: ignore[attr-defined]
            energy_source=str(r.get("energy_source") or ""),  # type: ignore[attr-defined]
            accuracy=None if acc is None or acc != acc else float(acc),
            config=f"{r.get('precision', '')} · batch {int(r.get('batch_size', 0) or 0)}",  # type: ignore[attr-defined]
        )


def label_svg(d: LabelData, *, width: int = 320) -> str:
    """An SVG label: model, stars, Wh per 1000 queries, task, hardware, date, and ESTIMATED where the
    energy was not measured. Self-contained (no fonts or scripts fetched)."""
    h = 300
    stars = "".join(
        f'<text x="{24 + i * 34}" y="132" font-size="32" fill="{STAR_COLORS[d.stars - 1] if i < d.stars else "#ddd"}">★</text>'
        for i in range(5)
    )
    kind = "ESTIMATED energy" if d.estimated else "MEASURED energy"
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
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        f'font-family="DejaVu Sans, Arial, sans-serif" role="img" aria-label="efficiency label for {escape(d.model)}">'
        f'<rect x="1" y="1" width="{width - 2}" height="{h - 2}" rx="10" fill="#fff" stroke="#333" stroke-width="2"/>'
        f'<rect x="1" y="1" width="{width - 2}" height="44" rx="10" fill="#333"/>'
        f'<text x="20" y="30" font-size="16" font-weight="bold" fill="#fff">efflab energy rating</text>'
        f'<text x="20" y="78" font-size="18" font-weight="bold" fill="#111">{escape(d.model)}</text>'
        f'<text x="20" y="96" font-size="11" fill="#555">{escape(acc)}</text>'
        f"{stars}"
        f'<text x="20" y="162" font-size="20" font-weight="bold" fill="#111">{d.wh_per_1000_queries:.3g} Wh</text>'
        f'<text x="20" y="178" font-size="11" fill="#555">per 1000 queries</text>'
        f'<text x="{width - 20}" y="162" font-size="11" font-weight="bold" text-anchor="end" fill="{kind_color}">{kind}</text>'
        f"{lines}"
        "</svg>"
    )
