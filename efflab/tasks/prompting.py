"""Accuracy of a general-purpose (causal) language model on a task, by prompting.

The protocol (:class:`PromptProtocol`, version :data:`PROTOCOL_VERSION`), recorded on every point it
scores:

- **prompt**: a header naming the label words, then ``k`` examples from the train split (balanced over
  the labels, drawn with a fixed seed, each text cut to ``shot_tokens`` tokens), then the test text
  (cut to ``seq_len`` tokens)::

      Each review below is labelled one of: negative, positive.

      Review: <train text>
      Label: positive

      Review: <test text>
      Label:

  A plain completion prompt (no chat template): the label is read from the next token, which is what
  likelihood scoring needs.
- **label words**: natural words per label (:attr:`efflab.tasks.Task.prompt_words`: the built-in
  ``reviews`` task answers ``negative`` / ``positive``, a CSV task declares its own in
  ``NAME.labels.json``). Each must be one token for the model (:class:`ConfigError` otherwise), so
  the score of a label is exactly the log-likelihood of its word after ``Label:``; nothing is generated.
- **a validation slice of the train split** (``validation`` texts, never shots, never test texts)
  chooses the rule: every ``k`` of ``shots_grid`` (0, 4 and 8 shots, the shots of a smaller ``k``
  being the first of a larger one's), each **uncalibrated** (the raw argmax) and **calibrated** (a
  causal LM's label likelihoods are biased toward some labels; for two labels the threshold on
  log p(label 1) - log p(label 0) most accurate on the texts it is fitted on, for more labels
  per-label offsets removing each label's mean log-likelihood). The calibrated rules are
  *cross-fitted*: the slice is split in two halves, the rule fitted on one is scored on the other and
  back, so every validation text is scored by a rule that did not see it. The most accurate rule on
  the slice is kept (ties: fewer shots, then uncalibrated); a kept calibrated rule is refitted on the
  whole slice. Its validation accuracy is recorded with the point (``k=8 of 0/4/8, validation 74.0 %
  on 100 train texts, calibrated``); being the best of six, it is optimistic, the test accuracy is not.
- **test texts**: the task's test split in its order, or its first ``eval_limit`` texts (a wider
  interval, said with ``n_eval``) — a prefix of the texts the task-specific family is scored on, so the
  paired comparisons use the same texts. Per-example correctness is a '0'/'1' string in that order.
  The **majority-class rate** of those texts (always answering the train split's most common label) is
  recorded beside the accuracy: a prompted model is above chance only when its accuracy's 95 %
  interval lies above it (:mod:`efflab.analysis.general`).

The k-shot prefix is the same for every text, so its KV cache is computed once and reused: the scores
are those of the full prompt (the same tokens, the same arithmetic up to float rounding), and a text
costs only its own tokens. A point's timed query is the same: a batch of texts through the cached prefix
(:meth:`Prompter.query_batch`, :meth:`Prompter.run`), as a server with prefix caching answers it, and the
windows' queries are the first test texts (:meth:`Prompter.scored_texts`), so most of the accuracy is
scored while timed. Cost on the project's 2-vCPU AMD EPYC (SmolLM2-135M, fp32, 128-token texts):
about 0.2 s a text when the machine is quiet, up to 1 s when it is shared; the default (100 validation
texts × 3 values of k, 200 test texts) is about 500 texts, about 100 s. (The slice was 200 texts until
2026-12: it cost a minute of `make demo` more, and the rule it kept was the same.) The selection and the test accuracy are
cached per (model, precision, cast, task, label words, text length, protocol); the cache key changes
with :data:`PROTOCOL_VERSION`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from efflab.errors import ConfigError, TaskError
from efflab.paths import cache_dir

if TYPE_CHECKING:
    from efflab.models.causal import CausalLMRunner
    from efflab.tasks import Task

# 2: natural label words, k and calibration chosen on a validation slice of the train split.
PROTOCOL_VERSION = 2
SHOTS_GRID: tuple[int, ...] = (0, 4, 8)


def _count(name: str, v: object, *, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        kind = "positive" if least >= 1 else "non-negative"
        msg = f"prompting {name} must be a {kind} integer, got {v!r}"
        raise ConfigError(msg)
    return v


@dataclass(frozen=True)
class PromptProtocol:
    """How a causal LM is scored on a task by prompting (see the module docstring).

    Attributes:
        shots: examples from the train split in the prompt; None = each of ``shots_grid`` is tried on
            the validation slice and the best kept.
        validation: train texts (never shots) on which ``k`` and the calibration are chosen, and the
            threshold fitted (0 = none: the raw argmax with ``shots`` examples; at least 2 otherwise).
        eval_limit: score the first ``eval_limit`` test texts only (None = the whole test split).
        seed: seeds which train texts become shots and validation texts.
        shot_tokens: each shot's text is cut to this many tokens (keeps the prompt short).
        batch_size: texts scored together.
        shots_grid: the values of ``k`` tried when ``shots`` is None.

    Raises:
        ConfigError: a count is negative or not an integer, or nothing can choose ``k``.
    """

    shots: int | None = None
    validation: int = 100
    eval_limit: int | None = 200
    seed: int = 0
    shot_tokens: int = 48
    batch_size: int = 8
    shots_grid: tuple[int, ...] = SHOTS_GRID

    def __post_init__(self) -> None:
        if self.shots is not None:
            _count("shots", self.shots, least=0)
        _count("validation", self.validation, least=0)
        _count("seed", self.seed, least=0)
        _count("shot_tokens", self.shot_tokens, least=1)
        _count("batch_size", self.batch_size, least=1)
        if self.validation == 1:
            msg = "prompting validation must be 0 (none) or at least 2 train texts (two halves), got 1"
            raise ConfigError(msg)
        if self.eval_limit is not None and (
            isinstance(self.eval_limit, bool) or not isinstance(self.eval_limit, int) or self.eval_limit < 1
        ):
            msg = f"prompting eval_limit must be a positive integer or None (all), got {self.eval_limit!r}"
            raise ConfigError(msg)
        grid = tuple(self.shots_grid)
        if not grid:
            msg = "prompting shots_grid is empty; give the values of k to try, e.g. (0, 4, 8)"
            raise ConfigError(msg)
        for k in grid:
            _count("shots_grid value", k, least=0)
        object.__setattr__(self, "shots_grid", tuple(sorted(set(grid))))
        if self.shots is None and self.validation == 0 and len(self.shots_grid) > 1:
            msg = (
                "prompting: without validation texts (--prompt-validation 0) nothing chooses the number "
                "of shots; give it (--prompt-shots 4) or keep the validation slice"
            )
            raise ConfigError(msg)

    @property
    def candidates(self) -> tuple[int, ...]:
        """The values of ``k`` tried."""
        return (self.shots,) if self.shots is not None else self.shots_grid

    def describe(self) -> str:
        """What is asked, before anything is chosen: ``k of 0/4/8 chosen on 100 train texts``."""
        ks = self.candidates
        k = f"k={ks[0]}" if len(ks) == 1 else f"k of {'/'.join(map(str, ks))}"
        if not self.validation:
            return f"{k}, uncalibrated"
        return f"{k}, calibration chosen on {self.validation} validation train texts"

    def key(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("batch_size")  # how many are scored together does not change the scores
        d["shots_grid"] = list(self.candidates)
        d.pop("shots")
        d["version"] = PROTOCOL_VERSION
        return d


@dataclass(frozen=True)
class Candidate:
    """One rule tried on the validation slice: ``k`` shots, calibrated or not, and its accuracy."""

    shots: int
    calibrated: bool
    validation_accuracy: float


@dataclass(frozen=True)
class Selection:
    """The rule kept on the validation slice (see the module docstring).

    Attributes:
        shots: the ``k`` kept.
        calibrated: whether the kept rule is calibrated (a threshold / offsets) or the raw argmax.
        threshold: two labels, calibrated: the threshold on log p(label 1) - log p(label 0); else None.
        bias: more labels, calibrated: the offsets added to the log-likelihoods; else None.
        validation_accuracy: the kept rule's accuracy on the slice (cross-fitted when calibrated);
            None without a validation slice.
        validation_ci: its 95 % Wilson interval.
        n_validation: validation texts.
        tried: every rule tried, in order.
        candidates: the values of ``k`` that were asked (for the description).
        seconds: wall seconds the selection took (when it was computed; a cached one keeps them).
    """

    shots: int
    calibrated: bool
    threshold: float | None
    bias: tuple[float, ...] | None
    validation_accuracy: float | None
    validation_ci: tuple[float, float] | None
    n_validation: int
    tried: tuple[Candidate, ...]
    candidates: tuple[int, ...]
    seconds: float

    def describe(self) -> str:
        """The kept rule in words, as recorded with the point: ``k=8 of 0/4/8, validation 74.0 % on
        200 train texts, calibrated``."""
        k = f"k={self.shots}"
        if len(self.candidates) > 1:
            k += f" of {'/'.join(map(str, self.candidates))}"
        cal = "calibrated" if self.calibrated else "uncalibrated"
        if self.validation_accuracy is None:
            return f"{k}, {cal}"
        return f"{k}, validation {self.validation_accuracy * 100:.1f} % on {self.n_validation} train texts, {cal}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tried"] = [asdict(c) for c in self.tried]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Selection:
        ci = d.get("validation_ci")
        bias = d.get("bias")
        va = d.get("validation_accuracy")
        return cls(
            shots=int(d["shots"]),
            calibrated=bool(d["calibrated"]),
            threshold=None if d.get("threshold") is None else float(d["threshold"]),
            bias=None if bias is None else tuple(float(x) for x in bias),
            validation_accuracy=None if va is None else float(va),
            validation_ci=None if ci is None else (float(ci[0]), float(ci[1])),
            n_validation=int(d["n_validation"]),
            tried=tuple(
                Candidate(int(c["shots"]), bool(c["calibrated"]), float(c["validation_accuracy"]))
                for c in d["tried"]
            ),
            candidates=tuple(int(k) for k in d["candidates"]),
            seconds=float(d["seconds"]),
        )


@dataclass(frozen=True)
class PromptingResult:
    """Accuracy of a prompted causal LM on the test texts, with the rule that scored it.

    Attributes:
        accuracy: fraction of the scored test texts answered right.
        ci: its 95 % Wilson interval.
        n_eval: test texts scored (the first ``n_eval`` of the test split).
        correct: '0'/'1' per scored test text, in the task's test order.
        protocol: the kept rule in words (:meth:`Selection.describe`).
        majority_rate: the fraction of those texts in the train split's most common class (the
            accuracy of always answering it).
        selection: the rule kept on the validation slice.
        score_s: wall seconds the test texts took to score (when computed; a cached result keeps them).
        cached: read from the cache.
    """

    accuracy: float
    ci: tuple[float, float]
    n_eval: int
    correct: str
    protocol: str
    majority_rate: float
    selection: Selection
    score_s: float
    cached: bool = False

    @property
    def threshold(self) -> float | None:
        return self.selection.threshold

    @property
    def above_majority(self) -> bool:
        """The accuracy's 95 % interval lies above the majority-class rate."""
        return self.ci[0] > self.majority_rate


def _header(task: Task) -> str:
    return f"Each review below is labelled one of: {', '.join(task.prompt_words)}.\n\n"


def label_token_ids(runner: CausalLMRunner, task: Task) -> list[int]:
    """The one token of each label word (with its leading space) for ``runner``'s tokenizer.

    Raises:
        ConfigError: a label word is more than one token, or two words are the same token.
    """
    tok = runner.tokenizer
    ids: list[int] = []
    for label, word in zip(task.label_names, task.prompt_words, strict=True):
        pieces = [int(x) for x in tok(f" {word}", add_special_tokens=False)["input_ids"]]
        if len(pieces) != 1:
            shown = " + ".join(repr(tok.decode([p])) for p in pieces)
            msg = (
                f"task {task.name!r}: label word {word!r} is {len(pieces)} tokens for {runner.name!r} "
                f"({shown}), so it has no single next-token score; give label {label!r} a one-token word "
                f'(for a CSV task in {task.name}.labels.json beside it, e.g. {{"{label}": "positive"}})'
            )
            raise ConfigError(msg)
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        msg = (
            f"task {task.name!r}: the label words {list(task.prompt_words)} are the same token for "
            f"{runner.name!r}; give each label a different word"
        )
        raise ConfigError(msg)
    return ids


def _shot_pool(task: Task, seed: int, n: int) -> list[int]:
    """``n`` train rows balanced over the labels (round-robin, each label's rows in a seeded order):
    the shots of ``k`` are the first ``k`` of them, so a smaller ``k``'s shots are in a larger one's."""
    rng = np.random.default_rng(seed)
    labels = task.train["label"].to_numpy()
    by_label = [list(rng.permutation(np.flatnonzero(labels == c))) for c in range(task.n_classes)]
    pool: list[int] = []
    while len(pool) < n and any(by_label):
        for rows in by_label:
            if rows and len(pool) < n:
                pool.append(int(rows.pop(0)))
    if len(pool) < n:
        msg = f"prompting: {n} shots asked but the train split has {len(task.train)} texts; lower the shots"
        raise TaskError(msg)
    return pool


def validation_rows(task: Task, protocol: PromptProtocol) -> list[int]:
    """The validation slice: ``protocol.validation`` train rows (seeded) that are no ``k``'s shots."""
    pool = _shot_pool(task, protocol.seed, max(protocol.candidates))
    rest = np.setdiff1d(np.arange(len(task.train)), np.array(pool, dtype=np.int64))
    rng = np.random.default_rng([protocol.seed, 1])
    return [int(i) for i in rng.permutation(rest)[: protocol.validation]]


class Prompter:
    """The prompts and label tokens of one (runner, task, protocol, k), and the scoring of texts.

    ``shots`` is the ``k`` of this prompter (default: ``protocol.shots``, else the largest of the
    grid). The decision rule is the raw argmax until :meth:`use` sets the kept one.
    """

    def __init__(
        self,
        runner: CausalLMRunner,
        task: Task,
        protocol: PromptProtocol,
        seq_len: int,
        *,
        shots: int | None = None,
    ) -> None:
        self.runner = runner
        self.task = task
        self.protocol = protocol
        self.seq_len = seq_len
        self.shots = int(shots if shots is not None else max(protocol.candidates))
        self.label_token_ids = label_token_ids(runner, task)
        tok = runner.tokenizer
        train = task.train
        labels = train["label"].to_numpy()
        pool = _shot_pool(task, protocol.seed, max(max(protocol.candidates), self.shots))[: self.shots]
        order = np.random.default_rng([protocol.seed, 2, self.shots]).permutation(len(pool))
        self.shot_rows = [pool[i] for i in order]
        prefix = _header(task)
        for i in self.shot_rows:
            text = runner.truncate_text(str(train["text"].iloc[i]), protocol.shot_tokens)
            prefix += f"Review: {_one_line(text)}\nLabel: {task.prompt_words[int(labels[i])]}\n\n"
        self.prefix_ids = [int(x) for x in tok(prefix, add_special_tokens=False)["input_ids"]]
        bos = getattr(tok, "bos_token_id", None)
        if bos is not None and (not self.prefix_ids or self.prefix_ids[0] != bos):
            self.prefix_ids = [int(bos), *self.prefix_ids]
        limit = runner.context_len - self.seq_len - 8
        if len(self.prefix_ids) > limit:
            msg = (
                f"the prompt of {self.shots} shots is {len(self.prefix_ids)} tokens; with texts of up to "
                f"{self.seq_len} tokens it exceeds the context of {runner.name!r} ({runner.context_len} "
                "tokens); lower the shots (--prompt-shots) or --seq-len"
            )
            raise TaskError(msg)
        self._prefix_cache: Any = None
        self._width: int | None = None
        self.selection: Selection | None = None
        self.bias = np.zeros(task.n_classes)
        self.threshold: float | None = 0.0 if task.n_classes == 2 else None

    def use(self, selection: Selection) -> None:
        """Decide with the rule ``selection`` kept (its ``k`` must be this prompter's)."""
        self.selection = selection
        if self.task.n_classes == 2:
            self.threshold = selection.threshold if selection.calibrated else 0.0
        elif selection.calibrated and selection.bias is not None:
            self.bias = np.array(selection.bias, dtype=np.float64)

    def suffix_ids(self, text: str) -> list[int]:
        t = self.runner.truncate_text(str(text), self.seq_len)
        return [
            int(x)
            for x in self.runner.tokenizer(f"Review: {_one_line(t)}\nLabel:", add_special_tokens=False)[
                "input_ids"
            ]
        ]

    def prompt_ids(self, text: str) -> list[int]:
        """The whole prompt of ``text`` (the k-shot prefix then the text): what a query costs."""
        return self.prefix_ids + self.suffix_ids(text)

    # ----- the query: a text through the cached k-shot prefix -----
    def prefix_cache(self) -> Any:
        """The k-shot prefix's KV cache (computed on first use, then reused by every query)."""
        import torch
        from transformers import DynamicCache

        if self._prefix_cache is None:
            r = self.runner
            ids = torch.tensor([self.prefix_ids], dtype=torch.long, device=r.device)
            cache = DynamicCache()
            with torch.inference_mode(), r._ctx():
                r.model(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    position_ids=torch.arange(ids.shape[1], device=r.device)[None],
                    use_cache=True,
                    logits_to_keep=1,
                    **{r._cache_kw: cache},
                )
            self._prefix_cache = cache
        return self._prefix_cache

    def scored_texts(self) -> list[str]:
        """The test texts the accuracy is measured on: the test split's first ``eval_limit``."""
        test = (
            self.task.test
            if self.protocol.eval_limit is None
            else self.task.test.iloc[: self.protocol.eval_limit]
        )
        return test["text"].astype(str).tolist()

    @property
    def query_width(self) -> int:
        """Tokens of the longest scored test text's part of the prompt (``Review: …\nLabel:``): every
        timed query batch is padded to it, so each costs the same, as the family's are padded to
        ``seq_len``."""
        if self._width is None:
            self._width = max((len(self.suffix_ids(t)) for t in self.scored_texts()), default=1)
        return self._width

    def query_batch(self, texts: Sequence[str], width: int | None = None) -> Any:
        """The texts' parts of their prompts, left-padded to ``width`` (at least the longest): a batch
        that :meth:`run` answers through the cached prefix."""
        from efflab.models.causal import PromptBatch

        b = self.runner.pad_left([self.suffix_ids(t) for t in texts], width=width)
        return PromptBatch(b.input_ids, b.attention_mask, b.position_ids, cached_prefix=True)

    def run(self, batch: Any, model: Any = None) -> Any:
        """The next-token logits after each prompt of ``batch`` (a :meth:`query_batch`): its rows
        continue a copy of the k-shot prefix's KV cache, as a server with prefix caching answers them
        (the same scores as the whole prompt, up to float rounding; tested)."""
        import torch

        r = self.runner
        p = len(self.prefix_ids)
        n = batch.batch_size
        cache = copy.deepcopy(self.prefix_cache())
        if n > 1:
            cache.batch_repeat_interleave(n)
        mask = torch.cat(
            [torch.ones((n, p), dtype=batch.attention_mask.dtype, device=r.device), batch.attention_mask], 1
        )
        with torch.inference_mode(), r._ctx():
            return (model or r.model)(
                input_ids=batch.input_ids,
                attention_mask=mask,
                position_ids=p + batch.position_ids,
                use_cache=True,
                logits_to_keep=1,
                **{r._cache_kw: cache},
            ).logits[:, -1, :]

    def label_scores(self, logits: Any) -> Any:
        """``(n, n_labels)`` log-probabilities of the label tokens from next-token ``logits``."""
        import torch

        ids = torch.tensor(self.label_token_ids, device=logits.device)
        return torch.log_softmax(logits.float(), dim=-1)[:, ids]

    def label_logprobs(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, n_labels)`` log-probabilities of each label's token after each text's prompt (texts
        of like length scored together, ``protocol.batch_size`` at a time)."""
        lengths = [len(self.suffix_ids(t)) for t in texts]
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), len(self.label_token_ids)), dtype=np.float64)
        bs = self.protocol.batch_size
        for start in range(0, len(texts), bs):
            idx = order[start : start + bs]
            lp = self.label_scores(self.run(self.query_batch([texts[j] for j in idx])))
            out[idx] = lp.cpu().numpy()
        return out

    def decide(self, lp: np.ndarray) -> np.ndarray:
        if self.task.n_classes == 2 and self.threshold is not None:
            return ((lp[:, 1] - lp[:, 0]) > self.threshold).astype(np.int64)
        return np.asarray((lp + self.bias).argmax(axis=1), dtype=np.int64)

    def predict(self, runner: CausalLMRunner, texts: Sequence[str]) -> np.ndarray:
        return self.decide(self.label_logprobs(texts))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def best_threshold(score: np.ndarray, truth: np.ndarray) -> float:
    """The threshold on ``score`` (predict 1 above it) most accurate on ``truth``; ties: nearest 0."""
    s = np.sort(np.unique(score))
    cands = np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2, [s[-1] + 1.0]]) if len(s) else np.array([0.0])
    accs = np.array([np.mean((score > c).astype(int) == truth) for c in cands])
    best = np.flatnonzero(accs == accs.max())
    return float(cands[best[np.argmin(np.abs(cands[best]))]])


def _fit(lp: np.ndarray, truth: np.ndarray) -> tuple[float | None, np.ndarray | None]:
    """The calibrated rule fitted on ``lp``: (threshold, None) for two labels, (None, offsets) else."""
    if lp.shape[1] == 2:
        return best_threshold(lp[:, 1] - lp[:, 0], truth), None
    return None, -lp.mean(axis=0)


def _apply(lp: np.ndarray, threshold: float | None, bias: np.ndarray | None) -> np.ndarray:
    if threshold is not None:
        return ((lp[:, 1] - lp[:, 0]) > threshold).astype(np.int64)
    return np.asarray((lp + (bias if bias is not None else 0.0)).argmax(axis=1), dtype=np.int64)


def cross_fitted_hits(lp: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per text, whether the calibrated rule fitted on the *other* half of the slice gets it right
    (halves: even and odd positions)."""
    hits = np.zeros(len(truth), dtype=bool)
    idx = np.arange(len(truth))
    halves = (idx % 2 == 0, idx % 2 == 1)
    for fit, ev in (halves, halves[::-1]):
        if not ev.any():
            continue
        if not fit.any():
            hits[ev] = lp[ev].argmax(axis=1) == truth[ev]
            continue
        t, b = _fit(lp[fit], truth[fit])
        hits[ev] = _apply(lp[ev], t, b) == truth[ev]
    return hits


def choose(scores: dict[int, np.ndarray], truth: np.ndarray, candidates: tuple[int, ...]) -> Selection:
    """The rule kept from the validation scores ``scores[k]`` (``(n, n_labels)`` label log-probs per
    ``k``) against the labels ``truth``: every k raw and calibrated (cross-fitted), the most accurate
    kept (ties: fewer shots, then uncalibrated), a calibrated one refitted on the whole slice."""
    from efflab.stats import wilson_interval

    tried: list[Candidate] = []
    hits_of: dict[tuple[int, bool], np.ndarray] = {}
    for k in sorted(scores):
        lp = scores[k]
        raw = lp.argmax(axis=1) == truth
        cal = cross_fitted_hits(lp, truth)
        for calibrated, hits in ((False, raw), (True, cal)):
            hits_of[(k, calibrated)] = hits
            tried.append(Candidate(k, calibrated, float(hits.mean())))
    best = max(tried, key=lambda c: (c.validation_accuracy, -c.shots, not c.calibrated))
    threshold: float | None = None
    bias: tuple[float, ...] | None = None
    if best.calibrated:
        t, b = _fit(scores[best.shots], truth)
        threshold, bias = t, None if b is None else tuple(float(x) for x in b)
    hits = hits_of[(best.shots, best.calibrated)]
    return Selection(
        shots=best.shots,
        calibrated=best.calibrated,
        threshold=threshold,
        bias=bias,
        validation_accuracy=best.validation_accuracy,
        validation_ci=wilson_interval(int(hits.sum()), len(hits)),
        n_validation=len(truth),
        tried=tuple(tried),
        candidates=candidates,
        seconds=0.0,
    )


def select(runner: CausalLMRunner, task: Task, protocol: PromptProtocol, seq_len: int) -> Prompter:
    """Try every ``k`` of the protocol on the validation slice and return the prompter of the rule
    kept (its :attr:`Prompter.selection` set); see the module docstring.

    A ``k`` whose prompt does not fit the model's context is skipped when others are tried.

    Raises:
        TaskError: no ``k`` fits the context, or the train split is too small for the shots.
        ConfigError: a label word is not one token for the model.
    """
    t0 = time.perf_counter()
    rows = validation_rows(task, protocol) if protocol.validation else []
    texts = [str(task.train["text"].iloc[i]) for i in rows]
    truth = task.train["label"].to_numpy()[rows] if rows else np.zeros(0, dtype=np.int64)
    prompters: dict[int, Prompter] = {}
    scores: dict[int, np.ndarray] = {}
    error: TaskError | None = None
    for k in protocol.candidates:
        try:
            p = Prompter(runner, task, protocol, seq_len, shots=k)
        except TaskError as e:
            if len(protocol.candidates) == 1:
                raise
            error = error or e
            continue
        prompters[k] = p
        if texts:
            scores[k] = p.label_logprobs(texts)
    if not prompters:
        raise error or TaskError(f"prompting: no k of {list(protocol.candidates)} could be prompted")
    if texts:
        sel = choose(scores, truth, protocol.candidates)
    else:  # no validation slice: the one k asked, raw argmax
        (k,) = prompters
        sel = Selection(k, False, None, None, None, None, 0, (), protocol.candidates, 0.0)
    sel = replace(sel, seconds=time.perf_counter() - t0)
    kept = prompters[sel.shots]
    kept.use(sel)
    return kept


def _key(
    what: str, model_id: str, precision: str, cast: str, device: str, task: Task, protocol: PromptProtocol,
    seq_len: int,
) -> str:  # fmt: skip
    key = protocol.key()
    if what == "select":
        key.pop("eval_limit")  # the choice does not depend on how many test texts are scored
    raw = json.dumps(
        [what, model_id, precision, cast, device.split(":")[0], task.name, task.content_hash,
         list(task.prompt_words), seq_len, key],
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def cache_paths(
    model_id: str, precision: str, cast: str, device: str, task: Task, protocol: PromptProtocol, seq_len: int
) -> tuple[Path, Path]:
    """Where :func:`attach` caches the rule kept, and :func:`evaluate_prompting` the test accuracy, for
    a model (by its ``model_id``) at a precision, cast and device on ``task`` — found without loading
    the model (the sweep's estimate asks whether they exist)."""
    at = (model_id, precision, cast, device, task, protocol, seq_len)
    folder = cache_dir() / "accuracy"
    return folder / f"prompt-select-{_key('select', *at)}.json", folder / f"prompt-{_key('test', *at)}.json"


def _paths(runner: CausalLMRunner, task: Task, protocol: PromptProtocol, seq_len: int) -> tuple[Path, Path]:
    return cache_paths(runner.model_id, runner.precision, runner.cast, runner.device, task, protocol, seq_len)


def _write_json(path: Path, d: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(d, f)
    Path(tmp).replace(path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or damaged: recomputed and overwritten
    return d if isinstance(d, dict) else None


def needs_task(model: str) -> ConfigError:
    """The error of a causal LM asked to classify without a task (said before it loads, when its name
    tells it is one)."""
    return ConfigError(
        f"model {model!r} is a causal LM: --workload classify scores a task by prompting, so give "
        "it one (--task reviews), or measure generation with --workload generate"
    )


def attach(
    runner: CausalLMRunner,
    task: Task | None,
    protocol: PromptProtocol,
    seq_len: int,
    *,
    use_cache: bool = True,
) -> Prompter:
    """Attach the :class:`Prompter` of the rule kept for ``task`` to ``runner`` (reused when it is
    already attached; the selection read from the cache when it was made before, see :func:`select`).

    Raises:
        ConfigError: no task (a causal LM classifies only by prompting on a task), or a label word
            is not one token for the model.
        TaskError: the prompt does not fit the context, or the train split is too small.
    """
    if task is None:
        raise needs_task(runner.name)
    cur = runner.prompter
    if isinstance(cur, Prompter) and cur.task is task and cur.protocol == protocol and cur.seq_len == seq_len:
        return cur
    label_token_ids(runner, task)  # a multi-token word fails before anything is scored
    path, _ = _paths(runner, task, protocol, seq_len)
    d = _read_json(path) if use_cache else None
    prompter: Prompter | None = None
    if d is not None:
        try:
            sel = Selection.from_dict(d)
            prompter = Prompter(runner, task, protocol, seq_len, shots=sel.shots)
            prompter.use(sel)
        except (KeyError, TypeError, ValueError, IndexError):
            prompter = None
    if prompter is None:
        prompter = select(runner, task, protocol, seq_len)
        if prompter.selection is not None:
            _write_json(path, prompter.selection.to_dict())
    runner.prompter = prompter
    return prompter


def result_path(runner: CausalLMRunner, task: Task, protocol: PromptProtocol, seq_len: int) -> Path:
    """Where :func:`evaluate_prompting` caches its result (when it exists, the windows score nothing)."""
    return _paths(runner, task, protocol, seq_len)[1]


def evaluate_prompting(
    runner: CausalLMRunner,
    task: Task,
    protocol: PromptProtocol,
    *,
    seq_len: int,
    use_cache: bool = True,
    scored: np.ndarray | None = None,
) -> PromptingResult:
    """Accuracy of ``runner`` on ``task`` by prompting: the rule kept on the validation slice, scored
    on the test texts (cached per model, precision, task, label words, text length and protocol).

    ``scored``: labels already predicted per test text (``-1`` where not) by the timed windows
    (:mod:`efflab.measuring.scoring`), which answer the same queries through the same prefix; only
    the other texts are scored here.

    Raises:
        ConfigError, TaskError: as :func:`attach`.
    """
    from efflab.stats import wilson_interval

    path = result_path(runner, task, protocol, seq_len)
    d = _read_json(path) if use_cache else None
    if d is not None:
        try:
            return PromptingResult(
                float(d["accuracy"]),
                (float(d["ci"][0]), float(d["ci"][1])),
                int(d["n_eval"]),
                str(d["correct"]),
                str(d["protocol"]),
                float(d["majority_rate"]),
                Selection.from_dict(d["selection"]),
                float(d["score_s"]),
                True,
            )
        except (ValueError, KeyError, TypeError, IndexError):
            pass  # a damaged cache entry is recomputed and overwritten
    prompter = attach(runner, task, protocol, seq_len, use_cache=use_cache)
    sel = prompter.selection or Selection(
        prompter.shots, False, None, None, None, None, 0, (), (prompter.shots,), 0.0
    )
    test = task.test if protocol.eval_limit is None else task.test.iloc[: protocol.eval_limit]
    texts = test["text"].astype(str).tolist()
    t0 = time.perf_counter()
    pred = np.full(len(texts), -1, dtype=np.int64)
    if scored is not None and len(scored) == len(texts):
        pred[:] = scored
    todo = np.flatnonzero(pred < 0)
    if len(todo):
        pred[todo] = prompter.predict(runner, [texts[i] for i in todo])
    score_s = time.perf_counter() - t0
    truth = test["label"].to_numpy()
    hits = pred == truth
    n = len(truth)
    res = PromptingResult(
        float(hits.mean()) if n else float("nan"),
        wilson_interval(int(hits.sum()), n),
        n,
        "".join("1" if h else "0" for h in hits),
        sel.describe(),
        float(np.mean(truth == task.majority_label)) if n else float("nan"),
        sel,
        score_s,
    )
    _write_json(
        path,
        {
            "accuracy": res.accuracy,
            "ci": list(res.ci),
            "n_eval": res.n_eval,
            "correct": res.correct,
            "protocol": res.protocol,
            "majority_rate": res.majority_rate,
            "selection": res.selection.to_dict(),
            "score_s": res.score_s,
            "model_id": runner.model_id,
            "precision": runner.precision,
            "task": task.name,
        },
    )
    return res
