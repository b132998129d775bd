"""Efficiency labels: laid out on a grid, so no two lines of text overlap and none leaves the label,
whatever the length of the numbers and names (the browser test checks the rendered boxes)."""

from __future__ import annotations

import itertools

import pytest

from efflab.label import LabelData, energy_value, fit_text, label_layout, label_svg, text_width

ENERGIES = (0.0000123, 0.0038, 0.5, 1.0, 12.3456, 999.9, 123456789.0)
MODELS = ("tfidf-logreg", "minilm-l2-distilled", "a-very-long-model-name/with-a-hub-organisation-prefix")


def label(wh: float, model: str, stars: int = 3, **kw: object) -> LabelData:
    base = dict(
        model=model, wh_per_1000_queries=wh, stars=stars, task="reviews",
        hardware="AMD EPYC 7B13 64-Core Processor, 2 threads, no GPU, Linux 6.1", date="2026-11-22",
        estimated=True, energy_source="codecarbon", accuracy=0.8123, config="batch 128 · int8",
        uncertainty_rel=0.5, energy_basis="modelled (user watts)", n_models=7,
    )  # fmt: skip
    base.update(kw)
    return LabelData(**base)  # type: ignore[arg-type]


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(("wh", "model"), list(itertools.product(ENERGIES, MODELS)))
def test_no_two_lines_overlap_and_all_fit(wh: float, model: str) -> None:
    lay = label_layout(label(wh, model))
    boxes = [t.box for t in lay.texts]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not overlaps(a, b), (lay.texts[i].text, lay.texts[j].text)
    for t in lay.texts:
        left, top, right, bottom = t.box
        assert left >= 0 and right <= lay.width - 10 and top >= 0 and bottom <= lay.height, t.text
    # The stars row sits between the accuracy line and the rating line.
    star_top, star_bottom = lay.stars_y - lay.star_r, lay.stars_y + lay.star_r
    for t in lay.texts:
        assert t.box[3] <= star_top or t.box[1] >= star_bottom, t.text


def test_label_says_basis_rating_and_no_scientific_notation() -> None:
    svg = label_svg(label(0.0000123, "tfidf-logreg"))
    assert "3 of 5 stars among 7 models on this hardware" in svg
    assert "MODELLED (USER WATTS) energy ±50 %" in svg
    assert "12.3 µWh" in svg and "e-0" not in svg
    measured = label_svg(label(2.5, "m", estimated=False, energy_basis="measured", energy_source="nvml"))
    assert "MEASURED energy<" in measured and "±" not in measured
    assert "unrated" in label_svg(label(1.0, "m", stars=0))
    # Stars are outlined polygons, filled ones in the band's colour.
    assert svg.count('class="efflab-star on"') == 3 and svg.count("<polygon") == 5 and 'stroke="#333"' in svg


def test_energy_value_uses_si_prefixes() -> None:
    assert energy_value(0.0038) == ("3.8", "mWh")
    assert energy_value(1.5) == ("1.5", "Wh")
    assert energy_value(123456.0) == ("123", "kWh")
    assert energy_value(999.0) == ("999", "Wh")
    assert energy_value(float("nan")) == ("n/a", "")


def test_fit_text_shortens_to_the_room() -> None:
    long = "x" * 200
    short = fit_text(long, 11, 100)
    assert short.endswith("…") and text_width(short, 11) <= 100
    assert fit_text("abc", 11, 100) == "abc"
