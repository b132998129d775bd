"""Accuracy of a general-purpose (causal) language model on a task, by prompting.

The protocol (:class:`PromptProtocol`), recorded on every point it scores:

- **prompt**: a header naming the labels, then ``shots`` examples from the train split (balanced over
  the labels, drawn with a fixed seed, each text cut to ``shot_tokens`` tokens), then the test text
  (cut to ``seq_len`` tokens)::

      Each review below is labelled one of: other, great.

      Review: <train text>
      Label: great

      Review: <test text>
      Label:

  A plain completion prompt (no chat template): the label is read from the next token, which is what
  likelihood scoring needs.
- **label**: the log-likelihood of each label's first token (" great" vs " other") after ``Label:``;
  no text is generated.
- **calibration**: a causal LM's label likelihoods are biased toward some labels (the prompt, the
  shots' order); the decision rule is fitted on ``calibration`` train texts that are not shots: for
  two labels the threshold on log p(label 1) - log p(label 0) that is most accurate on that slice,
  for more labels per-label offsets that remove each label's mean log-likelihood. ``calibration=0``
  keeps the raw argmax.
- **test texts**: the task's test split in its order, or its first ``eval_limit`` texts (a wider
  interval, said with ``n_eval``). Per-example correctness is a '0'/'1' string in that order, so the
  paired test can compare the model with others on the same texts.

The k-shot prefix is the same for every test text, so its KV cache is computed once and reused: the
scores are those of the full prompt (the same tokens, the same arithmetic up to float rounding).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from efflab.errors import ConfigError, TaskError
from efflab.paths import cache_dir

if TYPE_CHECKING:
    from efflab.models.causal import CausalLMRunner
    from efflab.tasks import Task

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class PromptProtocol:
    """How a causal LM is scored on a task by prompting.

    Attributes:
        shots: examples from the train split in the prompt (0 = zero-shot).
        seed: seeds which train texts become shots and calibration texts.
        calibration: train texts (not shots) the decision rule is fitted on (0 = uncalibrated).
        eval_limit: score the first ``eval_limit`` test texts only (None = the whole test split).
        shot_tokens: each shot's text is cut to this many tokens (keeps the prompt short).
        batch_size: test texts scored together.
    """

    shots: int = 4
    seed: int = 0
    calibration: int = 100
    eval_limit: int | None = 200
    shot_tokens: int = 48
    batch_size: int = 8

    def __post_init__(self) -> None:
        for name in ("shots", "calibration", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                msg = f"prompting {name} must be a non-negative integer, got {v!r}"
                raise ConfigError(msg)
        for name in ("shot_tokens", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                msg = f"prompting {name} must be a positive integer, got {v!r}"
                raise ConfigError(msg)
        if self.eval_limit is not None and (
            isinstance(self.eval_limit, bool) or not isinstance(self.eval_limit, int) or self.eval_limit < 1
        ):
            msg = f"prompting eval_limit must be a positive integer or None (all), got {self.eval_limit!r}"
            raise ConfigError(msg)

    def describe(self) -> str:
        """The protocol in words, as shown next to the accuracy: ``k=4, calibrated``."""
        k = f"k={self.shots}" if self.shots else "zero-shot"
        cal = f"calibrated on {self.calibration} train texts" if self.calibration else "uncalibrated"
        return f"{k}, {cal}"

    def key(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("batch_size")  # how many are scored together does not change the scores
        d["version"] = PROTOCOL_VERSION
        return d


@dataclass(frozen=True)
class PromptingResult:
    """Accuracy of a prompted causal LM, with its interval and per-example correctness."""

    accuracy: float
    ci: tuple[float, float]
    n_eval: int
    correct: str  # '0'/'1' per scored test text, in the task's test order
    protocol: str  # PromptProtocol.describe()
    threshold: float | None = None
    cached: bool = False


def _header(task: Task) -> str:
    return f"Each review below is labelled one of: {', '.join(task.label_names)}.\n\n"


class Prompter:
    """The prompts and label tokens of one (runner, task, protocol), and the scoring of texts."""

    def __init__(self, runner: CausalLMRunner, task: Task, protocol: PromptProtocol, seq_len: int) -> None:
        self.runner = runner
        self.task = task
        self.protocol = protocol
        self.seq_len = seq_len
        tok = runner.tokenizer
        rng = np.random.default_rng(protocol.seed)
        train = task.train
        labels = train["label"].to_numpy()
        # Balanced shots: round-robin over the labels, each label's texts in a seeded order.
        by_label = [list(rng.permutation(np.flatnonzero(labels == c))) for c in range(task.n_classes)]
        shots: list[int] = []
        while len(shots) < protocol.shots and any(by_label):
            for pool in by_label:
                if pool and len(shots) < protocol.shots:
                    shots.append(int(pool.pop(0)))
        if len(shots) < protocol.shots:
            msg = f"prompting: {protocol.shots} shots asked but the train split has {len(train)} texts; lower shots"
            raise TaskError(msg)
        order = rng.permutation(len(shots))
        self.shot_rows = [shots[i] for i in order]
        rest = np.setdiff1d(np.arange(len(train)), np.array(self.shot_rows, dtype=np.int64))
        n_cal = min(protocol.calibration, len(rest))
        self.calibration_rows = [int(i) for i in rng.permutation(rest)[:n_cal]]
        prefix = _header(task)
        for i in self.shot_rows:
            text = runner.truncate_text(str(train["text"].iloc[i]), protocol.shot_tokens)
            prefix += f"Review: {_one_line(text)}\nLabel: {task.label_names[int(labels[i])]}\n\n"
        self.prefix_ids = [int(x) for x in tok(prefix, add_special_tokens=False)["input_ids"]]
        bos = getattr(tok, "bos_token_id", None)
        if bos is not None and (not self.prefix_ids or self.prefix_ids[0] != bos):
            self.prefix_ids = [int(bos), *self.prefix_ids]
        firsts = []
        for name in task.label_names:
            ids = tok(f" {name}", add_special_tokens=False)["input_ids"]
            firsts.append(int(ids[0]))
        if len(set(firsts)) != len(firsts):
            msg = (
                f"task {task.name!r}: the labels {list(task.label_names)} start with the same token for this "
                "model, so their likelihoods cannot be told apart; rename the labels (e.g. one word each)"
            )
            raise TaskError(msg)
        self.label_token_ids = firsts
        limit = runner.context_len - self.seq_len - 8
        if len(self.prefix_ids) > limit:
            msg = (
                f"the prompt of {protocol.shots} shots is {len(self.prefix_ids)} tokens; with texts of up to "
                f"{self.seq_len} tokens it exceeds the context of {runner.name!r} ({runner.context_len} "
                "tokens); lower the shots (--prompt-shots) or --seq-len"
            )
            raise TaskError(msg)
        self._prefix_cache: Any = None
        self.bias = np.zeros(task.n_classes)
        self.threshold: float | None = 0.0 if task.n_classes == 2 else None

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

    # ----- scoring -----
    def _prefix(self) -> Any:
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

    def label_logprobs(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, n_labels)`` log-probabilities of each label's first token after each text's prompt."""
        import torch

        r = self.runner
        p = len(self.prefix_ids)
        suffixes = [self.suffix_ids(t) for t in texts]
        order = np.argsort([len(s) for s in suffixes], kind="stable")
        out = np.empty((len(texts), len(self.label_token_ids)), dtype=np.float64)
        label_ids = torch.tensor(self.label_token_ids, device=r.device)
        bs = self.protocol.batch_size
        for start in range(0, len(texts), bs):
            idx = order[start : start + bs]
            part = r.pad_left([suffixes[j] for j in idx])  # left-padded between prefix and text
            n = part.batch_size
            cache = copy.deepcopy(self._prefix())
            if n > 1:
                cache.batch_repeat_interleave(n)
            mask = torch.cat(
                [torch.ones((n, p), dtype=part.attention_mask.dtype, device=r.device), part.attention_mask], 1
            )
            pos = p + part.position_ids
            with torch.inference_mode(), r._ctx():
                logits = r.model(
                    input_ids=part.input_ids,
                    attention_mask=mask,
                    position_ids=pos,
                    use_cache=True,
                    logits_to_keep=1,
                    **{r._cache_kw: cache},
                ).logits[:, -1, :]
            lp = torch.log_softmax(logits.float(), dim=-1)[:, label_ids]
            out[idx] = lp.cpu().numpy()
        return out

    def calibrate(self) -> None:
        """Fit the decision rule on the calibration texts (see the module docstring)."""
        if not self.calibration_rows:
            return
        train = self.task.train
        texts = [str(train["text"].iloc[i]) for i in self.calibration_rows]
        truth = train["label"].to_numpy()[self.calibration_rows]
        lp = self.label_logprobs(texts)
        if self.task.n_classes == 2:
            score = lp[:, 1] - lp[:, 0]
            self.threshold = best_threshold(score, truth)
        else:
            self.bias = -lp.mean(axis=0)

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


def attach(runner: CausalLMRunner, task: Task | None, protocol: PromptProtocol, seq_len: int) -> Prompter:
    """Attach a :class:`Prompter` for ``task`` to ``runner`` (reused when it is already attached).

    Raises:
        ConfigError: no task (a causal LM classifies only by prompting on a task).
        TaskError: the prompt does not fit the context, or labels share a first token.
    """
    if task is None:
        msg = (
            f"model {runner.name!r} is a causal LM: --workload classify scores a task by prompting, so give "
            "it one (--task reviews), or measure generation with --workload generate"
        )
        raise ConfigError(msg)
    cur = runner.prompter
    if isinstance(cur, Prompter) and cur.task is task and cur.protocol == protocol and cur.seq_len == seq_len:
        return cur
    runner.prompter = Prompter(runner, task, protocol, seq_len)
    return runner.prompter


def _cache_key(runner: CausalLMRunner, task: Task, protocol: PromptProtocol, seq_len: int) -> str:
    raw = json.dumps(
        [runner.model_id, runner.precision, runner.cast, runner.device.split(":")[0], task.name,
         task.content_hash, seq_len, protocol.key()],
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def evaluate_prompting(
    runner: CausalLMRunner, task: Task, protocol: PromptProtocol, *, seq_len: int, use_cache: bool = True
) -> PromptingResult:
    """Accuracy of ``runner`` on ``task`` by prompting (cached per model, precision, task, protocol)."""
    from efflab.stats import wilson_interval

    key = _cache_key(runner, task, protocol, seq_len)
    path = cache_dir() / "accuracy" / f"prompt-{key}.json"
    if use_cache and path.exists():
        try:
            d = json.loads(path.read_text())
            return PromptingResult(
                float(d["accuracy"]),
                (float(d["ci"][0]), float(d["ci"][1])),
                int(d["n_eval"]),
                str(d["correct"]),
                str(d["protocol"]),
                None if d.get("threshold") is None else float(d["threshold"]),
                True,
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # a damaged cache entry is recomputed and overwritten
    prompter = attach(runner, task, protocol, seq_len)
    prompter.calibrate()
    test = task.test if protocol.eval_limit is None else task.test.iloc[: protocol.eval_limit]
    pred = prompter.predict(runner, test["text"].astype(str).tolist())
    truth = test["label"].to_numpy()
    hits = pred == truth
    n = len(truth)
    res = PromptingResult(
        float(hits.mean()) if n else float("nan"),
        wilson_interval(int(hits.sum()), n),
        n,
        "".join("1" if h else "0" for h in hits),
        protocol.describe(),
        prompter.threshold,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "accuracy": res.accuracy,
                "ci": list(res.ci),
                "n_eval": res.n_eval,
                "correct": res.correct,
                "protocol": res.protocol,
                "threshold": res.threshold,
                "model_id": runner.model_id,
                "precision": runner.precision,
                "task": task.name,
            },
            f,
        )
    Path(tmp).replace(path)
    return res
