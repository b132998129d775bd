"""The generate workload: prefill vs decode, exact token counts, energy windows, left padding, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import fast_method

from efflab.config import Config
from efflab.errors import ConfigError, ModelError
from efflab.records import EnergyReading, Measurement
from efflab.sensors.fake import FakeSensor

FAST = ["--sensor", "fake", "--min-window", "0.05", "--max-window", "0.3", "--seq-len", "16"]
GEN_KEYS = (
    "ttft_s", "itl_s", "tokens_per_s", "energy_j_per_token", "wh_per_1000_responses",
    "energy_prefill_j", "energy_decode_j", "ttft_p50_s", "ttft_ci_s", "itl_p50_s", "itl_ci_s",
    "kv_cache_bytes", "flops_per_token", "max_new_tokens", "workload",
)  # fmt: skip


@pytest.fixture(scope="module")
def lm():  # type: ignore[no-untyped-def]
    from efflab.models import load_runner, resolve_model

    r = load_runner(resolve_model("tiny-llama"), "fp32", "cpu")
    yield r
    r.close()


class RecordingSensor(FakeSensor):
    """A fake sensor that keeps every reading it returned."""

    def __init__(self) -> None:
        super().__init__(power_w=10.0)
        self.readings: list[EnergyReading] = []

    def end_window(self) -> EnergyReading:
        r = super().end_window()
        self.readings.append(r)
        return r


def _measure(lm, n_new: int, batch: int = 2, sensor: FakeSensor | None = None) -> Measurement:  # type: ignore[no-untyped-def]
    from efflab.measuring.generate import measure_generation

    cfg = Config(model="tiny-llama", batch_size=batch, seq_len=16, workload="generate", max_new_tokens=n_new)
    return measure_generation(lm, cfg, None, sensor or FakeSensor(), fast_method())


def test_one_token_has_no_decode(lm) -> None:  # type: ignore[no-untyped-def]
    sensor = RecordingSensor()
    m = _measure(lm, 1, sensor=sensor)
    assert len(sensor.readings) == len(m.windows) >= m.n_windows >= 1  # prefill windows only
    assert m.itl_s is None and m.itl_p50_s is None and m.energy_decode_j == 0.0
    assert m.ttft_s is not None and m.ttft_s > 0
    assert m.latency_s == pytest.approx(m.ttft_s)
    assert m.energy_j_per_token == pytest.approx(m.energy_j_per_query)


def test_prefill_and_decode_windows_sum_to_the_total(lm) -> None:  # type: ignore[no-untyped-def]
    sensor = RecordingSensor()
    m = _measure(lm, 4, batch=2, sensor=sensor)
    # prefill windows, then decode windows, each its own sensor window
    # (a re-measured window is kept in `windows` but not counted)
    assert len(sensor.readings) == len(m.windows) >= m.n_windows >= 2
    used = [w for w in m.windows if w.used]
    assert m.energy_j == pytest.approx(sum(w.energy_j for w in used))
    assert sorted(w.energy_j for w in m.windows) == pytest.approx(sorted(r.energy_j for r in sensor.readings))
    assert m.energy_j_per_query == pytest.approx(m.energy_prefill_j + m.energy_decode_j)
    assert m.energy_j_per_token == pytest.approx(m.energy_j_per_query / 4)
    assert m.wh_per_1000_responses == pytest.approx(m.energy_j_per_query * 1000 / 3600)
    assert m.itl_s is not None and m.ttft_s is not None
    assert m.latency_s == pytest.approx(m.ttft_s + 3 * m.itl_s)
    assert m.tokens_per_s == pytest.approx(2 * 4 / m.latency_s)
    assert m.workload == "generate" and m.max_new_tokens == 4
    assert m.kv_cache_bytes and m.kv_cache_bytes > 0
    assert m.flops_per_token and m.flops_per_query
    assert m.flops_per_token == pytest.approx(m.flops_per_query / 4)
    assert m.mfu is None or 0 < m.mfu <= 1
    assert m.accuracy is None  # accuracy belongs to the classify (prompting) point
    back = Measurement.from_json(m.to_json())
    assert back.to_dict() == m.to_dict()


def test_tokens_are_counted_exactly(lm) -> None:  # type: ignore[no-untyped-def]
    batch = lm.pad_left(lm.generation_prompts(["good", "a much longer review text here"], 2, 16))
    for n in (1, 2, 7):
        assert tuple(lm.generate(batch, n).shape) == (2, n)
    first, cache = lm.prefill(batch)
    steps: list[int] = []
    out = lm.decode(batch, first, cache, 5, on_step=lambda: steps.append(1))
    assert len(steps) == 5 and tuple(out.shape) == (2, 5)
    assert cache.get_seq_length() == batch.prompt_len + 5


def test_left_padding_does_not_change_greedy_outputs(lm) -> None:  # type: ignore[no-untyped-def]
    prompts = lm.generation_prompts(
        ["great", "this was a long and terrible review of some snacks I bought"], 2, 32
    )
    assert len(prompts[0]) != len(prompts[1])
    together = lm.generate(lm.pad_left(prompts), 6)
    for i, p in enumerate(prompts):
        alone = lm.generate(lm.pad_left([p]), 6)
        assert together[i].tolist() == alone[0].tolist()
    # the same tokens transformers' own generate() picks
    b = lm.pad_left(prompts)
    ref = lm.model.generate(
        input_ids=b.input_ids,
        attention_mask=b.attention_mask,
        max_new_tokens=6,
        min_new_tokens=6,
        do_sample=False,
        pad_token_id=lm.tokenizer.pad_token_id,
    )
    assert ref[:, b.prompt_len :].tolist() == together.tolist()


def test_prompt_plus_new_tokens_beyond_context_is_refused(lm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"max_new_tokens 5000 .* exceeds the context .* --max-new-tokens"):
        _measure(lm, 5000)


def test_config_workload_fields() -> None:
    assert Config(workload="generate").max_new_tokens == 16
    assert "workload" not in Config().to_dict()  # old point keys stay the same
    assert Config(workload="generate", max_new_tokens=4).to_dict()["max_new_tokens"] == 4
    for bad, match in (
        ({"workload": "gen"}, "unknown workload 'gen'.*Did you mean 'generate'"),
        ({"workload": "generate", "max_new_tokens": 0}, "max_new_tokens must be a positive integer, got 0"),
        ({"workload": "generate", "max_new_tokens": -2}, "max_new_tokens must be a positive integer, got -2"),
        ({"max_new_tokens": 8}, "applies to --workload generate only"),
    ):
        with pytest.raises(ConfigError, match=match):
            Config(**bad)


def test_old_records_read_as_classify() -> None:
    m = _old_record()
    assert m.workload == "classify" and m.ttft_s is None and m.wh_per_1000_responses is None


def _old_record() -> Measurement:
    """A record as efflab 0.1 wrote it, before the generation fields existed."""
    from efflab.records import Fingerprint

    fp = Fingerprint("cpu", 2, 2, None, None, "t", "t", "0", "3", "linux", "h", 0.0, 0.0, None)
    base = {
        "model": "m", "model_id": "m", "batch_size": 1, "precision": "fp32", "device": "cpu", "seq_len": 8,
        "task": None, "n_batches": 1, "warmup_batches": 1, "window_s": 1.0, "latency_s": 1.0,
        "latency_std_s": 0.0, "latency_ci_s": 0.0, "latency_p50_s": 1.0, "latency_p95_s": None,
        "throughput_qps": 1.0, "energy_j": 1.0, "energy_j_per_query": 1.0, "energy_source": "fake",
        "energy_measured": False, "energy_uncertainty_rel": 0.0, "energy_detail": "", "co2e_g_per_1000_queries": 0.1,
        "country": "USA", "carbon_intensity_g_per_kwh": 369.0, "peak_mem_bytes": None, "model_bytes": 1,
        "n_params": 1, "flops_per_query": None, "achieved_flops_per_s": None, "gemm_peak_flops_per_s": None,
        "mfu": None, "accuracy": None, "accuracy_ci": None, "n_eval": None, "flags": [],
        "fingerprint": fp.__dict__ | {"cpu_flags": []}, "timestamp": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    return Measurement.from_dict(base)


# ----- bad input through the CLI: one line, exit 2 -----
def efflab(*args: str) -> Any:
    from conftest import run_cli

    return run_cli(*args)


def test_cli_generate_json_has_the_generation_fields() -> None:
    r = efflab(
        "measure", "--model", "tiny-llama", "--workload", "generate", "--max-new-tokens", "3",
        "--batch-size", "2", "--no-task", "--json", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    missing = [k for k in GEN_KEYS if k not in d]
    assert not missing, missing
    assert d["workload"] == "generate" and d["max_new_tokens"] == 3
    assert d["energy_j_per_query"] == pytest.approx(d["energy_prefill_j"] + d["energy_decode_j"])


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--model", "tiny-bert-l1", "--workload", "generate", "--no-task"], "needs a generative (causal)"),
        (["--model", "tiny-llama", "--no-task"], "is a causal LM: --workload classify scores a task"),
        (["--model", "tiny-llama", "--workload", "generate", "--max-new-tokens", "0"], "got 0"),
        (["--model", "tiny-llama", "--workload", "generate", "--max-new-tokens", "-1"], "got -1"),
        (
            ["--model", "tiny-llama", "--workload", "generate", "--max-new-tokens", "9000"],
            "lower --max-new-tokens",
        ),
        (["--model", "tiny-llama", "--workload", "chat"], "unknown workload 'chat'"),
    ],
)
def test_cli_bad_generation_input(args: list[str], expect: str, tmp_path: Path) -> None:
    r = efflab("measure", *args, *FAST)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert err and err[-1].startswith("efflab: error:") and expect in err[-1], r.stderr
    assert "Traceback" not in r.stderr


def test_truncated_or_foreign_gguf_is_one_line(tmp_path: Path) -> None:
    from efflab.models import load_runner, resolve_model
    from efflab.models.causal import smollm2_gguf

    src = smollm2_gguf()
    cut = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        cut.write_bytes(f.read(2_000_000))
    with pytest.raises(ModelError, match=r"unreadable or truncated"):
        load_runner(resolve_model(str(cut)), "fp32", "cpu")
    foreign = tmp_path / "notes.gguf"
    foreign.write_text("hello")
    with pytest.raises(ModelError, match=r"is not a GGUF file"):
        load_runner(resolve_model(str(foreign)), "fp32", "cpu")
    r = efflab("measure", "--model", str(cut), "--workload", "generate", "--no-task", *FAST)
    assert r.returncode == 2 and "unreadable or truncated" in r.stderr and "Traceback" not in r.stderr


def test_missing_gguf_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from efflab.models import causal

    real = importlib.util.find_spec
    monkeypatch.setattr(
        causal.importlib.util, "find_spec", lambda n, *a: None if n == "gguf" else real(n, *a)
    )
    with pytest.raises(
        ModelError, match=r"needs the package\(s\) gguf; install them with `pip install gguf`"
    ):
        causal.check_gguf_support()


@pytest.mark.slow
def test_real_smollm2_generates_and_scores(tmp_path: Path) -> None:
    """The real SmolLM2-135M: a short generate point and a small prompting score (one window each:
    the real model's parts are the subject, not the windows)."""
    r = efflab(
        "measure", "--model", "smollm2-135m", "--workload", "generate", "--max-new-tokens", "4",
        "--batch-size", "2", "--json", "--windows", "1", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_params"] == 134_515_008 and d["itl_s"] > 0 and d["ttft_s"] > 0
    r = efflab(
        "measure", "--model", "smollm2-135m", "--task", "reviews", "--batch-size", "1",
        "--prompt-eval-limit", "24", "--prompt-shots", "4", "--prompt-validation", "24", "--json",
        "--windows", "1", *FAST,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["prompting"].startswith("k=4, validation ") and "on 24 train texts" in d["prompting"]
    assert d["n_eval"] == 24 and d["majority_rate"] is not None
    assert 0.0 <= d["accuracy"] <= 1.0


def test_general_vs_specific_sentence_and_generation_plots() -> None:
    import pandas as pd

    from efflab.analysis.general import general_vs_specific
    from efflab.plots import generation_batch_figure, generation_length_figure

    base = {"status": "ok", "energy_measured": False, "flags": "", "n_eval": 200}
    rows = [
        {**base, "model": "smollm2-135m", "batch_size": 1, "precision": "fp32", "workload": "classify",
         "energy_j_per_query": 50.0, "accuracy": 0.70, "prompting": "k=4, calibrated on 100 train texts",
         "majority_rate": 0.6},
        {**base, "model": "minilm-l6", "batch_size": 8, "precision": "fp32", "workload": "classify",
         "energy_j_per_query": 2.0, "accuracy": 0.82, "prompting": None},
        {**base, "model": "minilm-l6", "batch_size": 32, "precision": "int8", "workload": "classify",
         "energy_j_per_query": 1.0, "accuracy": 0.81, "prompting": None},
        {**base, "model": "tfidf-logreg", "batch_size": 8, "precision": "fp32", "workload": "classify",
         "energy_j_per_query": 0.01, "accuracy": 0.80, "prompting": None},
        {**base, "model": "smollm2-135m", "batch_size": 4, "precision": "fp32", "workload": "generate",
         "energy_j_per_query": 9.0, "accuracy": None, "prompting": None, "max_new_tokens": 16,
         "energy_j_per_token": 0.5, "energy_prefill_j": 2.0, "energy_decode_j": 7.0},
        {**base, "model": "smollm2-135m", "batch_size": 1, "precision": "fp32", "workload": "generate",
         "energy_j_per_query": 20.0, "accuracy": None, "prompting": None, "max_new_tokens": 16,
         "energy_j_per_token": 1.25, "energy_prefill_j": 4.0, "energy_decode_j": 16.0},
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    cmp = general_vs_specific(df)
    assert cmp is not None and cmp.specific_model == "minilm-l6"
    assert cmp.energy_ratio == pytest.approx(50.0) and cmp.accuracy_gap_pt == pytest.approx(11.0)
    text = cmp.sentence()
    assert "costs 50× the modelled energy per query of minilm-l6 for 11.0 pt less accuracy" in text
    assert "where always answering the majority class scores 60.0 %" in text
    assert "k=4, calibrated" in text
    assert general_vs_specific(df[df["prompting"].isna()]) is None
    fig = generation_batch_figure(df)
    assert len(fig.data) == 1 and list(fig.data[0].x) == [1, 4]
    assert list(fig.data[0].y) == [1.25, 0.5]
    assert "modelled" in fig.layout.yaxis.title.text or "estimated" in fig.layout.yaxis.title.text
    assert len(generation_length_figure(df).data) == 2
    assert generation_batch_figure(df[df["workload"] == "classify"]).layout.annotations
