"""The task's test texts scored inside the timed windows: a sweep's windows do the accuracy's work.

A point used to time one fixed batch (the first test texts) over and over, then score the whole test
split again outside the windows. With a :class:`WindowScorer`, each batch a window times (and each
warm-up batch) is the *next* test texts instead — tokenized once, padded to ``seq_len`` like the fixed
batch, so every batch has the same shape and costs the same — and its predicted labels are kept. The
points of one loaded model (its batch sizes) share one scorer, so their windows advance through the
test split together; once it is covered, the windows go on over it as before. At the end,
:func:`efflab.measuring.accuracy.evaluate` scores only the texts the windows did not reach.

The predictions are the model's own on the same texts, at the same precision and ``seq_len`` (padding
is masked, so a text padded to ``seq_len`` is classified as it is in a shorter batch; bf16 and int8
can round differently by batch, rarely flipping a text's label). Sequence classifiers of
``transformers`` and causal LMs scored by prompting are scored this way (a prompted LM's windows go
through the first ``eval_limit`` test texts, each query a text through the cached k-shot prefix,
decided by the rule kept on the validation slice; :func:`efflab.tasks.prompting.evaluate_prompting`
scores the rest); scikit-learn pipelines are scored after the windows, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task


class WindowScorer:
    """Test texts handed out batch by batch to timed steps, and the labels predicted for them."""

    def __init__(
        self, runner: Runner, task: Task, seq_len: int, max_batch: int, prompter: Any = None
    ) -> None:
        texts = prompter.scored_texts() if prompter is not None else task.test["text"].astype(str).tolist()
        self.prompted = prompter is not None
        self.runner = runner
        self.n = len(texts)
        self.max_batch = max(1, int(max_batch))
        # The first texts again after the last ones: a batch starting near the end never wraps.
        padded = texts + (texts * (self.max_batch // max(1, self.n) + 1))[: self.max_batch]
        self.inputs: Any = runner.make_batch(  # a dict of tensors, or a PromptBatch
            padded, len(padded), seq_len
        )
        self.pred = np.full(self.n, -1, dtype=np.int64)
        self.cursor = 0  # the next text without a prediction
        self._pending: list[tuple[int, int, Any]] = []

    @classmethod
    def wanted(cls, runner: Runner, task: Task | None, prompter: Any) -> bool:
        """Whether ``runner``'s windows can score ``task``: a transformers sequence classifier, or a
        causal LM with its prompter attached."""
        if task is None:
            return False
        if prompter is not None:
            return runner.kind == "causal-lm"
        return runner.kind == "hf" and bool(runner.can_predict)

    @property
    def covered(self) -> int:
        """Texts with a prediction (the windows' pending ones included)."""
        return min(self.cursor, self.n)

    def step(self, runner: Runner, batch_size: int, fixed: Any) -> Callable[[], Any]:
        """The timed call for a point of ``batch_size``: the next test texts while some are unscored,
        then ``fixed`` (the point's own batch, the same shape)."""
        inputs, n, prompted = self.inputs, self.n, self.prompted
        fits = batch_size <= self.max_batch

        def call() -> Any:
            c = self.cursor
            if c >= n or not fits:
                return runner.forward(fixed)
            if prompted:  # the label tokens' log-probabilities: what answering the query takes
                out = runner.forward(inputs.rows(c, batch_size))
                self._pending.append((c, batch_size, runner.label_scores(out)))  # type: ignore[attr-defined]
            else:
                out = runner.forward({k: v[c : c + batch_size] for k, v in inputs.items()})
                self._pending.append((c, batch_size, out.argmax(-1)))
            self.cursor = c + batch_size
            return out

        return call

    def flush(self) -> None:
        """Move the predictions of the steps run so far into ``pred`` (outside the timed window)."""
        for c, b, out in self._pending:
            k = min(b, self.n - c)
            labels = out.cpu().numpy()[:k]
            if self.prompted:
                labels = self.runner.decide(labels)  # type: ignore[attr-defined]
            self.pred[c : c + k] = labels
        self._pending.clear()

    def predictions(self) -> np.ndarray:
        """Predicted label per test text, ``-1`` where no window reached it."""
        self.flush()
        return self.pred


class ScorerPool:
    """The scorers of one loaded model, one per ``seq_len`` (and prompter), shared by the points of its batch sizes
    (``max_batch``: the largest of them)."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self._scorers: dict[tuple[int, int], WindowScorer] = {}

    def get(self, runner: Runner, task: Task, seq_len: int, prompter: Any = None) -> WindowScorer:
        key = (seq_len, id(prompter))
        if key not in self._scorers:
            self._scorers[key] = WindowScorer(runner, task, seq_len, self.max_batch, prompter)
        return self._scorers[key]
