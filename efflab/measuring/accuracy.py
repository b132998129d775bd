"""Task accuracy at the measured precision, with a 95 % Wilson interval, cached on disk.

bf16 and int8 change predictions, so accuracy is evaluated at the precision being measured; the
result is cached per (model identity, precision, cast, device kind, task content, seq_len, library
versions), with the per-example correctness ('0'/'1' per test example, in the task's test order) so
that two configurations can be compared on the same texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from efflab.errors import TaskError
from efflab.measuring.stats import wilson_interval
from efflab.paths import cache_dir

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracy, its 95 % Wilson interval, and ``correct``: '0'/'1' per test example in test order."""

    accuracy: float
    ci: tuple[float, float]
    n_eval: int
    cached: bool = False
    correct: str | None = None


def accuracy_from_predictions(pred: np.ndarray, truth: np.ndarray) -> AccuracyResult:
    """Accuracy and its 95 % Wilson interval."""
    n = len(truth)
    hits = np.asarray(pred) == np.asarray(truth)
    correct = int(hits.sum())
    bits = "".join("1" if h else "0" for h in hits.tolist())
    return AccuracyResult(correct / n if n else float("nan"), wilson_interval(correct, n), n, correct=bits)


def _versions() -> list[str]:
    from efflab.paths import package_version

    return [f"{pkg}={package_version(pkg)}" for pkg in ("torch", "transformers", "scikit-learn")]


_GENERIC_LABEL = re.compile(r"^label[_ ]?\d+$", re.IGNORECASE)


def pair_labels(runner_labels: tuple[str, ...] | None, task_labels: tuple[str, ...]) -> np.ndarray | None:
    """Index map from the model's label order to the task's, or None for identity.

    Labels are paired by name (case-insensitive). A model whose labels have no names (``LABEL_0``,
    ``LABEL_1``, ...) is taken to predict in the task's label order. Named labels that differ from
    the task's are never paired by position: sorted order can reverse them silently.

    Raises:
        TaskError: the counts differ, or the names differ (the message names both sets).
    """
    if runner_labels is None or tuple(runner_labels) == tuple(task_labels):
        return None
    norm = [str(x).strip().lower() for x in task_labels]
    model = [str(x).strip().lower() for x in runner_labels]
    if sorted(model) == sorted(norm):
        return np.array([norm.index(x) for x in model])
    if len(runner_labels) != len(task_labels):
        msg = (
            f"the model predicts {len(runner_labels)} labels {list(runner_labels)} but the task has "
            f"{len(task_labels)} {list(task_labels)}; fine-tune it on the task first"
        )
        raise TaskError(msg)
    if all(_GENERIC_LABEL.match(x) for x in model):
        return None  # unnamed labels (LABEL_0, ...): the task's order is the only pairing there is
    # No pairing is suggested: any guess by position is the silent reversal this check prevents.
    msg = (
        f"the model's labels {list(runner_labels)} are not the task's {list(task_labels)}, and efflab pairs "
        f"labels by name only; rename each of the task's labels to the model's label it means "
        f"({', '.join(map(str, runner_labels))}) and re-run"
    )
    raise TaskError(msg)


def cache_key(
    model_id: str, precision: str, device: str, task: Task, seq_len: int, cast: str = "model"
) -> str:
    """Key of a cached accuracy: everything that can change a prediction."""
    raw = json.dumps(
        [model_id, precision, cast, device.split(":")[0], task.name, task.content_hash, seq_len, _versions()]
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def cached_path(runner: Runner, task: Task, seq_len: int) -> Path:
    """Where ``runner``'s accuracy on ``task`` is cached (the file may not exist)."""
    cast = str(getattr(runner, "cast", "model"))
    key = cache_key(runner.model_id, runner.precision, runner.device, task, seq_len, cast)
    return cache_dir() / "accuracy" / f"{key}.json"


def evaluate(
    runner: Runner,
    task: Task,
    *,
    seq_len: int,
    batch_size: int = 64,
    use_cache: bool = True,
    progress: Callable[[float], None] | None = None,
    scored: np.ndarray | None = None,
) -> AccuracyResult:
    """Accuracy of ``runner`` on ``task``'s test split, from the cache when it has it.

    ``scored``: labels already predicted per test text in the model's label order (``-1`` where not),
    by the timed windows (:mod:`efflab.measuring.scoring`); only the other texts are scored here.
    ``progress(fraction)`` is called as the test texts are scored (in about ten chunks of whole
    batches), so a lab or a CLI can show real progress; a cached figure reports 1.0 at once."""
    # Pair the labels first: a cached figure from before that check could be a reversed pairing.
    mapping = pair_labels(runner.label_names, task.label_names)
    cast = str(getattr(runner, "cast", "model"))
    path = cached_path(runner, task, seq_len)
    if use_cache and path.exists():
        try:
            d = json.loads(path.read_text())
            bits = d.get("correct")
            if not isinstance(bits, str) or len(bits) != int(d["n_eval"]):
                raise ValueError("no per-example correctness")  # an older entry: recompute it
            return AccuracyResult(
                float(d["accuracy"]), (float(d["ci"][0]), float(d["ci"][1])), int(d["n_eval"]), True, bits
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a damaged or older cache entry is recomputed and overwritten
    all_texts = task.test["text"].astype(str).tolist()
    truth = task.test["label"].to_numpy()
    pred = np.full(len(all_texts), -1, dtype=np.int64)
    if scored is not None and len(scored) == len(all_texts):
        pred[:] = scored
    todo = np.flatnonzero(pred < 0)
    texts = [all_texts[i] for i in todo]
    # About ten chunks of whole batches: progress without changing what each batch sees.
    chunk = max(batch_size, -(-len(texts) // (10 * batch_size)) * batch_size)
    for start in range(0, len(texts), chunk):
        idx = todo[start : start + chunk]
        pred[idx] = np.asarray(runner.predict(texts[start : start + chunk], batch_size, seq_len))
        if progress is not None:
            progress(min(1.0, (start + chunk) / len(texts)))
    if progress is not None and not texts:
        progress(1.0)  # the windows scored every text
    if mapping is not None:
        pred = mapping[pred]
    res = accuracy_from_predictions(pred, truth)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "accuracy": res.accuracy,
                "ci": list(res.ci),
                "n_eval": res.n_eval,
                "model_id": runner.model_id,
                "precision": runner.precision,
                "cast": cast,
                "task": task.name,
                "versions": _versions(),
                "correct": res.correct,
            },
            f,
        )
    Path(tmp).replace(path)
    return res
