"""How much memory a configuration will need, estimated before anything is loaded.

An estimate, not a measurement: weights (with the transient copy a cast or int8 quantisation
makes), the batch's inputs, the activations of one layer in flight (inference keeps no graph),
the attention scores, and for generation the KV cache. It errs on the high side by a modest
margin so that what cannot fit is refused with one line instead of swapping the machine or dying
after allocating a terabyte; what fits is never refused on a guess (the margin is below 2x).

``check_fits`` compares it with what the device has free now (``MemAvailable`` and the cgroup
limit on CPU, ``cudaMemGetInfo`` on a GPU).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from efflab.errors import ConfigError

if TYPE_CHECKING:
    from efflab.config import Config
    from efflab.models.registry import ModelSource

_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 4}  # int8: activations stay fp32
# Per token of a text batch: tokenizer encodings (ids, masks, offsets as Python objects) and the
# int64 input tensors. Per query of a scikit-learn batch: list slots, sparse TF-IDF row, output.
_TOKENIZER_BYTES_PER_TOKEN = 120
_SKLEARN_BYTES_PER_QUERY = 600
_SKLEARN_BYTES_PER_TOKEN = 24


@dataclass(frozen=True)
class Footprint:
    """Estimated peak memory of one configuration, in bytes, by part."""

    weights_bytes: int
    inputs_bytes: int
    activations_bytes: int
    kv_cache_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.inputs_bytes + self.activations_bytes + self.kv_cache_bytes


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**27 else f"{n / 2**20:.0f} MiB"


def _hf_config(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def declared_labels(source: ModelSource) -> tuple[str, ...] | None:
    """The label names a classifier predicts, in its output order, read without loading it (a
    scikit-learn pipeline's ``efflab_model.json``, a sequence classifier's ``config.json``
    ``id2label``); None when the folder does not say (a hub id, a causal LM, an encoder without a
    classification head)."""
    folder = source.path
    if folder is None or source.kind == "causal-lm":
        return None
    if source.kind == "sklearn":
        try:
            meta = json.loads((folder / "efflab_model.json").read_text())
        except (OSError, ValueError):
            return None
        names = meta.get("label_names") if isinstance(meta, dict) else None
        return tuple(str(x) for x in names) if isinstance(names, list) and names else None
    cfg = _hf_config(folder)
    archs = cfg.get("architectures")
    id2label = cfg.get("id2label")
    if not (isinstance(archs, list) and any(str(a).endswith("ForSequenceClassification") for a in archs)):
        return None
    if not isinstance(id2label, dict) or not id2label:
        return None
    try:
        return tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    except (TypeError, ValueError):
        return None


def _int(d: dict[str, object], *names: str, default: int) -> int:
    for n in names:
        v = d.get(n)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return default


def max_positions(source: ModelSource) -> int | None:
    """How many tokens the model accepts per sequence (``max_position_embeddings``), if known."""
    if source.kind not in ("hf", "causal-lm") or source.path is None:
        return None
    cfg = _hf_config(source.path)
    v = cfg.get("max_position_embeddings") or cfg.get("n_positions") or cfg.get("max_seq_len")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def estimate(
    source: ModelSource,
    batch_size: int,
    seq_len: int,
    precision: str,
    *,
    max_new_tokens: int | None = None,
    with_texts: bool = True,
) -> Footprint:
    """Estimated peak bytes of measuring ``source`` at this batch size, length and precision.

    ``max_new_tokens`` adds a KV cache of ``seq_len + max_new_tokens`` positions (generation).
    ``with_texts`` counts the tokenizer's encodings (a task or filler texts are tokenised).
    """
    b, s = int(batch_size), int(seq_len)
    if source.kind == "sklearn":
        weights = 0
        if source.path is not None:
            weights = sum(p.stat().st_size for p in source.path.glob("*.joblib")) * 3
        inputs = b * (_SKLEARN_BYTES_PER_QUERY + _SKLEARN_BYTES_PER_TOKEN * min(s, 512))
        return Footprint(weights, inputs, 0)
    cfg = _hf_config(source.path) if source.path is not None else {}
    hidden = _int(cfg, "hidden_size", "n_embd", "d_model", default=768)
    inter = _int(cfg, "intermediate_size", "n_inner", "ffn_dim", default=4 * hidden)
    heads = _int(cfg, "num_attention_heads", "n_head", default=12)
    kv_heads = _int(cfg, "num_key_value_heads", default=heads)
    layers = _int(cfg, "num_hidden_layers", "n_layer", default=12)
    vocab = _int(cfg, "vocab_size", default=30522)
    act = _DTYPE_BYTES.get(precision, 4)
    file_bytes = 0
    if source.path is not None:
        file_bytes = sum(p.stat().st_size for p in source.path.glob("*.safetensors"))
        file_bytes += sum(p.stat().st_size for p in source.path.glob("*.bin"))
        file_bytes += sum(p.stat().st_size for p in source.path.glob("*.gguf")) * 4  # dequantised to fp32
    if not file_bytes:
        file_bytes = 4 * (vocab * hidden + layers * (4 * hidden * hidden + 2 * hidden * inter))
    # Loaded in fp32, then cast or quantised: the fp32 copy and the new one exist together.
    weights = int(file_bytes * (1.0 if precision == "fp32" else 1.5))
    positions = s + (max_new_tokens or 0)
    tokens = b * s
    inputs = tokens * 3 * 8 + (tokens * _TOKENIZER_BYTES_PER_TOKEN if with_texts else 0)
    # One layer in flight (inference keeps no graph): the attention phase holds the input, q, k, v
    # and the output plus the scores and their softmax (CPU attention kernels materialise them);
    # the FFN phase holds the input, its expansion before and after the activation, and the output.
    attention = tokens * 5 * hidden * act + 2 * b * heads * s * positions * act
    ffn = tokens * (2 * hidden + 2 * inter) * act
    per_layer = max(attention, ffn)
    logits = b * (vocab if max_new_tokens else 2) * 4
    kv = 0
    if max_new_tokens:
        kv = 2 * layers * b * positions * kv_heads * (hidden // max(heads, 1)) * act
    return Footprint(weights, inputs, per_layer + logits, kv)


def _cgroup_free_bytes() -> int | None:
    for limit_file, used_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            raw = Path(limit_file).read_text().strip()
            if raw == "max":
                return None
            limit, used = int(raw), int(Path(used_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit < 1 << 60:
            return max(limit - used, 0)
    return None


def available_bytes(device: str = "cpu") -> int | None:
    """Memory free for a new allocation on ``device`` now, in bytes (None when unknown)."""
    if device.startswith("cuda"):
        try:
            import torch

            idx = int(device.split(":", 1)[1]) if ":" in device else 0
            return int(torch.cuda.mem_get_info(idx)[0])
        except (RuntimeError, AssertionError, ImportError, ValueError):
            return None
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        free = None
    if free is None and hasattr(os, "sysconf"):
        try:
            free = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            free = None
    cg = _cgroup_free_bytes()
    if cg is not None:
        free = cg if free is None else min(free, cg)
    return free


def check_fits(
    source: ModelSource,
    config: Config,
    *,
    max_new_tokens: int | None = None,
    free_bytes: int | None = None,
) -> Footprint:
    """Refuse, before loading, a configuration that cannot run here.

    Checks ``seq_len`` against the model's positions, then the estimated footprint against the
    memory free on the device (``free_bytes`` overrides the reading, for tests).

    Raises:
        ConfigError: the sequence is longer than the model accepts, or the estimate exceeds the
            free memory; the message gives both figures and a batch size that would fit.
    """
    if max_new_tokens is None:  # a generate point's own output length
        max_new_tokens = getattr(config, "max_new_tokens", None)
    limit = max_positions(source)
    positions = config.seq_len + (max_new_tokens or 0)
    if limit is not None and positions > limit:
        what = "seq_len + max_new_tokens" if max_new_tokens else "seq_len"
        if max_new_tokens and max_new_tokens >= limit - 1:
            fix = f"lower --max-new-tokens to at most {max(limit - config.seq_len, 1)}"
        elif max_new_tokens:
            fix = f"use --seq-len {max(limit - max_new_tokens, 1)} or lower --max-new-tokens"
        else:
            fix = f"use --seq-len {min(limit, 128)} or at most {limit}"
        msg = f"{what} {positions} is longer than model {source.name!r} accepts ({limit} positions); {fix}"
        raise ConfigError(msg)
    fp = estimate(source, config.batch_size, config.seq_len, config.precision, max_new_tokens=max_new_tokens)
    free = available_bytes(config.device) if free_bytes is None else free_bytes
    if free is not None and fp.total_bytes > free:
        per_query = max((fp.total_bytes - fp.weights_bytes) / config.batch_size, 1.0)
        fit = int((free * 0.8 - fp.weights_bytes) // per_query)
        hint = (
            f"try --batch-size {fit} or less"
            if fit >= 1
            else "the model alone does not fit; free memory or use a smaller model"
        )
        gen = (
            f" + {max_new_tokens} new tokens (KV cache about {_gib(fp.kv_cache_bytes)})"
            if max_new_tokens and fp.kv_cache_bytes
            else ""
        )
        msg = (
            f"batch size {config.batch_size} of {source.name!r} at seq_len {config.seq_len}{gen} "
            f"{config.precision} needs about {_gib(fp.total_bytes)} of memory but {config.device} has "
            f"{_gib(free)} free; {hint}"
        )
        raise ConfigError(msg)
    return fp
