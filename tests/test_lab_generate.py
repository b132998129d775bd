"""The lab's generate workload, without a browser: a workload selector, a max-new-tokens control
validated like the CLI, a model picker of causal LMs only, generate points measured live through the
same path as classification (fake sensor, tiny random-init causal LM) and drawn on the Generation
plots; classification unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import fast_method, steady_method

from efflab.errors import ConfigError
from efflab.store import load_results, open_store
from widgets.live import QueueDispatch, start_live
from widgets.state import LabState

CLASSIFIERS = ["tiny-bert-l1", "tiny-bert-l2"]


def lab_state(store: Path, **kw: Any) -> LabState:
    kw.setdefault("sensor", "fake")
    kw.setdefault("method", fast_method())
    return LabState(store, **kw)


@pytest.fixture(scope="module")
def gen_store(small_store: Path, tiny_task: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small store plus tiny-llama generate points: batch 1, 2 x 1, 4 new tokens x fp32 (one timing
    window each: the tests read the points, they do not judge how they were measured)."""
    from efflab.sweep import SweepSpec, sweep

    path = tmp_path_factory.mktemp("gen") / "gen.sqlite"
    shutil.copy2(small_store, path)
    spec = SweepSpec(
        models=("tiny-llama",),
        batch_sizes=(1, 2),
        precisions=("fp32",),
        task=str(tiny_task),
        seq_len=16,
        sensor="fake",
        method=steady_method(),
        workloads=("generate",),
        max_new_tokens=(1, 4),
        per_model={},
    )
    with open_store(path) as st:
        sweep(spec, st)
    return path


@pytest.fixture
def gen_copy(gen_store: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "gen.sqlite"
    shutil.copy2(gen_store, dst)
    return dst


# ----- which models can generate: decided without loading them -----
def test_model_kind_knows_causal_lms_without_loading(tmp_path: Path) -> None:
    from efflab.models.registry import model_kind

    assert model_kind("tiny-llama") == model_kind("tiny-llama-l1") == "causal-lm"
    assert model_kind("tiny-bert-l2") == model_kind("all-minilm-l6-v2") == "hf"
    assert model_kind("smollm2-135m") == "causal-lm"  # the zoo's general-purpose model, by its recipe
    assert model_kind("minilm-l2") == "hf" and model_kind("tfidf-logreg") == "sklearn"
    folder = tmp_path / "my-lm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"]}))
    assert model_kind(str(folder)) == "causal-lm"
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    assert model_kind(str(folder)) == "hf"
    assert model_kind("someone/some-model") is None  # a hub id: only loading would tell
    assert model_kind(str(tmp_path / "missing")) is None


# ----- the selector and the generate-only model list -----
def test_generate_restricts_the_model_picker_to_causal_lms(small_store: Path) -> None:
    s = lab_state(small_store)
    assert s.workloads == ["classify", "generate"] and s.selection.workload == "classify"
    assert "smollm2-135m" in s.generative_family  # from the zoo, by kind
    assert not [m for m in s.generative_family if m.startswith(("tiny-bert", "minilm", "tfidf"))]
    mine = lab_state(small_store, family=[*CLASSIFIERS, "tiny-llama"])
    assert mine.models == (*CLASSIFIERS, "tiny-llama")
    mine.set_workload("generate")
    assert mine.models == ("tiny-llama",) and mine.selection.model == "tiny-llama"
    assert any("cannot generate text" in m and "starts on tiny-llama" in m for m in mine.messages)
    assert "not measured yet" in mine.nudge and "16 new tokens" in mine.nudge
    mine.set_workload("classify")  # back where it was
    assert mine.selection.model in CLASSIFIERS and mine.is_recommended


def test_a_model_that_cannot_run_the_workload_is_one_line(small_store: Path) -> None:
    s = lab_state(small_store, family=[*CLASSIFIERS, "tiny-llama"])
    with pytest.raises(ConfigError, match=r"tiny-bert-l1 cannot generate text \(an encoder classifier\)"):
        s.select(workload="generate", model="tiny-bert-l1")
    with pytest.raises(ConfigError, match="tiny-llama is a causal LM: .* pick a task"):
        s.select(model="tiny-llama", task=None)  # the reverse: classify needs a task to prompt
    assert s.selection.workload == "classify" and s.selection.model in CLASSIFIERS  # nothing changed
    encoders = lab_state(small_store, family=CLASSIFIERS)
    with pytest.raises(ConfigError, match="no model here can generate text"):
        encoders.set_workload("generate")
    with pytest.raises(ConfigError, match="unknown workload 'chat'"):
        encoders.set_workload("chat")


def test_max_new_tokens_is_validated_like_the_cli(small_store: Path) -> None:
    s = lab_state(small_store, family=[*CLASSIFIERS, "tiny-llama"])
    s.set_workload("generate")
    for bad in (0, -3, "many"):
        with pytest.raises(
            ConfigError, match=rf"max_new_tokens must be a positive integer, got {bad!r}; pick"
        ):
            s.select(max_new_tokens=bad)
    assert s.selection.max_new_tokens == 16  # the Config / CLI default
    s.select(max_new_tokens=4)
    assert s.spec_for().configs()[0].max_new_tokens == 4


def test_the_view_has_the_selector_and_refuses_a_bad_length(small_store: Path) -> None:
    from widgets.lab import Lab

    s = lab_state(small_store, family=[*CLASSIFIERS, "tiny-llama"])
    lab = Lab(s, dispatch=QueueDispatch(), load_once=False)
    assert lab.workload.options == ("classify", "generate") and lab.workload.value == "classify"
    assert lab.new_tokens.layout.display == "none" and lab.plots.selected_index == 0
    assert "No generate points yet" in lab.generation_note.value  # a one-line hint, no empty plots
    assert lab._gen_row.layout.display == "none"
    lab.workload.value = "generate"  # view -> state
    assert s.selection.workload == "generate" and lab.model.options == ("tiny-llama",)
    assert lab.new_tokens.layout.display == "" and lab.new_tokens.value == 16
    assert lab.plots.selected_index == 1  # the generation plots come to the front
    assert (
        "press Measure, or run `efflab measure --model tiny-llama --workload generate"
        in lab.generation_note.value
    )
    lab.new_tokens.value = 0
    assert "max_new_tokens must be a positive integer, got 0" in lab.messages.value
    assert "Traceback" not in lab.messages.value
    assert s.selection.max_new_tokens == 16 and lab.new_tokens.value == 16  # refused, control restored
    lab.workload.value = "classify"
    assert lab.model.options == (*CLASSIFIERS, "tiny-llama") and lab.plots.selected_index == 0
    encoders = Lab(lab_state(small_store, family=CLASSIFIERS), dispatch=QueueDispatch(), load_once=False)
    encoders.workload.value = "generate"
    assert "no model here can generate text" in encoders.messages.value
    assert encoders.workload.value == "classify"


# ----- generate points: stored, drawn, and kept apart from classification -----
def test_generate_points_have_their_own_plots_and_leave_classification_alone(
    gen_store: Path, small_store: Path
) -> None:
    s = lab_state(gen_store)
    plain = lab_state(small_store)
    assert len(s.cohort_frame) == len(plain.cohort_frame) == 8  # no generate row on the tradeoff curves
    assert len(s.generation_frame) == 4 and set(s.generation_frame["model"]) == {"tiny-llama"}
    assert s.selection == plain.selection and s.recommendation is not None
    assert plain.recommendation is not None and s.recommendation.key == plain.recommendation.key
    assert len(s.tradeoff_figure().data) == len(plain.tradeoff_figure().data)
    assert s.generation_note == ""
    batch = s.generation_batch_figure()
    ring = "flagged (noisy, time-capped or unstable)"
    assert {t.name for t in batch.data} - {ring} == {
        "tiny-llama · fp32 · 1 token",
        "tiny-llama · fp32 · 4 tokens",
    }
    length = s.generation_length_figure()
    assert {t.name for t in length.data} - {ring} == {"tiny-llama · b1 · fp32", "tiny-llama · b2 · fp32"}
    assert all(list(t.x) == [1, 4] for t in length.data if t.name != ring)
    s.set_workload("generate")  # lands on a stored generate point of tiny-llama
    assert s.selection.model == "tiny-llama" and s.is_stored and s.stored_here
    assert "per output token" in s.nudge and "Wh per 1000 responses" in s.nudge
    d = s.details()
    assert {"energy", "per token", "TTFT (prefill)", "ITL (decode)", "throughput"} <= set(d)
    assert "/ 1000 responses" in d["energy"]


def test_a_generate_point_measured_live_lands_in_the_store_and_on_the_plots(gen_copy: Path) -> None:
    from widgets.lab import Lab

    s = lab_state(gen_copy)
    q = QueueDispatch()
    lab = Lab(s, dispatch=q, load_once=False)
    lab.workload.value = "generate"
    s.select(model="tiny-llama", batch_size=2, max_new_tokens=2)
    assert not s.is_stored and not lab.measure.disabled
    n0 = len(s.generation_frame)
    assert lab.fig_generation_batch is not None
    # The ring trace of flagged points comes and goes with the flags a loaded machine gives: not counted.
    ring = "flagged (noisy, time-capped or unstable)"
    names0 = {t.name for t in lab.fig_generation_batch.data} - {ring}
    job = lab.start(None)
    assert job is not None and job.wait(300) == "done", s.live.text
    assert s.is_stored and len(s.generation_frame) == n0 + 1 and len(s.cohort_frame) == 8
    df = load_results(gen_copy)
    new = df[(df["model"] == "tiny-llama") & (df["max_new_tokens"] == 2)]
    assert len(new) == 1 and new["workload"].iloc[0] == "generate" and new["batch_size"].iloc[0] == 2
    assert new["energy_source"].iloc[0] == "fake" and new["energy_j_per_token"].iloc[0] > 0
    # the lab's figures followed (patched in place, as the classification curves are)
    names = {t.name for t in lab.fig_generation_batch.data} - {ring}
    assert names == names0 | {"tiny-llama · fp32 · 2 tokens"}
    assert lab.fig_generation_length is not None
    b2 = next(t for t in lab.fig_generation_length.data if t.name == "tiny-llama · b2 · fp32")
    assert list(b2.x) == [1, 2, 4]
    assert lab.measure.description == "Stored ✓" and "Generation (5 points)" in lab.plots.titles
    assert "Measured tiny-llama · b2 · fp32 · 2 new tokens" in lab.messages.value


def test_classification_from_the_lab_is_unchanged(gen_copy: Path) -> None:
    s = lab_state(gen_copy)
    s.select(model="tiny-bert-l1", batch_size=8, precision="fp32")
    spec = s.spec_for()
    cfg = spec.configs()[0]
    assert len(spec) == 1 and cfg.workload == "classify" and cfg.max_new_tokens is None
    assert cfg.to_dict() == s.selection.config(s.seq_len).to_dict()
    job = start_live(s, dispatch=QueueDispatch())
    assert job.wait(300) == "done", s.live.text
    assert s.is_stored and len(s.cohort_frame) == 9 and len(s.generation_frame) == 4


def test_generation_plots_ring_the_flagged_points() -> None:
    import pandas as pd

    from efflab.plots import generation_batch_figure, generation_length_figure

    base = {"status": "ok", "workload": "generate", "model": "m", "precision": "fp32", "energy_measured": False,
            "energy_prefill_j": 1.0, "energy_decode_j": 2.0, "max_new_tokens": 16}  # fmt: skip
    df = pd.DataFrame(
        [
            {**base, "batch_size": 1, "energy_j_per_token": 1.0, "energy_j_per_query": 18.0, "flags": ""},
            {**base, "batch_size": 4, "energy_j_per_token": 0.5, "energy_j_per_query": 9.0, "flags": "noisy,energy_estimated"},
        ]
    )  # fmt: skip
    ring = "flagged (noisy, time-capped or unstable)"
    batch = {t.name: t for t in generation_batch_figure(df).data}
    assert list(batch[ring].x) == [4] and list(batch[ring].y) == [0.5] and batch[ring].text == ("noisy",)
    length = {t.name: t for t in generation_length_figure(df).data}
    assert list(length[ring].x) == [16] and list(length[ring].y) == [pytest.approx(9.0 * 1000 / 3600)]
    quiet = df.assign(flags="energy_estimated")  # the run's basis alone is no reason to ring a point
    assert ring not in {t.name for t in generation_batch_figure(quiet).data}


def test_the_points_table_and_pins_follow_the_generate_workload(gen_store: Path) -> None:
    from widgets.lab import Lab

    s = lab_state(gen_store)
    lab = Lab(s, dispatch=QueueDispatch(), load_once=False)
    heads = [c[1] for c in lab.table.columns]
    assert "accuracy" in heads and "J / output token" not in heads and len(lab.table.rows) == 8
    lab.workload.value = "generate"
    heads = [c[1] for c in lab.table.columns]
    assert {"new tokens", "energy / 1000 responses", "J / output token", "TTFT", "ITL"} <= set(heads)
    assert len(lab.table.rows) == len(s.generation_frame) == 4 and "accuracy" not in heads
    assert lab.table.selected == str(s.selected_row["key"])  # type: ignore[index]
    lab.pins.pin("A")
    other = s.generation_frame[s.generation_frame["key"] != s.selected_row["key"]]["key"].iloc[0]  # type: ignore[index]
    lab.select_key(str(other))
    lab.pins.pin("B")
    text = lab.pins.out.value
    assert "per 1000 responses" in text and "latency per response" in text and "95 % interval" in text


def test_switching_to_generate_lands_on_the_generate_defaults_not_the_classifiers_batch(
    small_store: Path, gen_store: Path
) -> None:
    """The recommendation may be a classifier at batch 32 or 128: a model with nothing generated yet
    starts at batch 1 in fp32 (one response at a time); one with generate points lands on its newest."""
    from widgets.state import GENERATE_BATCH_SIZE, GENERATE_PRECISION

    s = lab_state(small_store, family=[*CLASSIFIERS, "tiny-llama"])
    s.select(batch_size=128, precision="int8")
    s.set_workload("generate")
    sel = s.selection
    assert (sel.model, sel.batch_size, sel.precision) == (
        "tiny-llama",
        GENERATE_BATCH_SIZE,
        GENERATE_PRECISION,
    )
    assert GENERATE_BATCH_SIZE == 1 and "batch 1" in s.nudge
    s.set_workload("classify")
    assert s.selection.batch_size == 128  # the classify selection is where it was
    g = lab_state(gen_store, family=[*CLASSIFIERS, "tiny-llama"])
    g.select(batch_size=128)
    g.set_workload("generate")
    newest = g.generation_frame.sort_values("created_at").iloc[-1]
    assert g.selection.batch_size == int(newest["batch_size"]) and g.is_stored
