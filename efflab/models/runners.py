"""Load a model at a precision on a device, and run it: the thing a measurement times.

A :class:`Runner` prepares one batch of inputs up front (tokenisation is outside the timed call,
as in optimum-benchmark), runs the model call that is timed, predicts labels for accuracy, and
counts FLOPs.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from efflab.errors import ConfigError, DeviceError, ModelError
from efflab.models.registry import ModelSource
from efflab.records import Flag

# Used when no task gives real texts (cost-only measurements of a text pipeline).
_FILLER = (
    "The coffee arrived quickly and tastes great, I would order it again. "
    "These snacks were stale and the bag was half empty, very disappointed."
)


class Runner(Protocol):
    """A loaded model, ready to be timed."""

    name: str
    model_id: str
    kind: str
    precision: str
    device: str
    n_params: int
    model_bytes: int
    can_predict: bool
    flags: tuple[str, ...]
    label_names: tuple[str, ...] | None

    def make_batch(self, texts: Sequence[str] | None, batch_size: int, seq_len: int) -> Any:
        """One batch of inputs, padded/truncated to ``seq_len``, already on the device."""
        ...

    def forward(self, batch: Any) -> Any:
        """The timed call: one forward pass over a batch."""
        ...

    def synchronize(self) -> None:
        """Wait for queued device work (CUDA); a no-op on CPU."""
        ...

    def predict(self, texts: Sequence[str], batch_size: int, seq_len: int) -> np.ndarray:
        """Predicted label indices in the model's label order."""
        ...

    def count_flops(self, batch: Any) -> float | None:
        """FLOPs of one forward pass over ``batch``, or None when they cannot be counted."""
        ...

    def close(self) -> None: ...


def cpu_flags() -> tuple[str, ...]:
    """The CPU's feature flags from /proc/cpuinfo (empty where unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return tuple(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ()


def precision_flags(precision: str, device: str, flags: Sequence[str] | None = None) -> tuple[str, ...]:
    """Flags for a precision the hardware runs without native support (it still runs, slowly)."""
    if device != "cpu":
        return ()
    f = set(cpu_flags() if flags is None else flags)
    if precision == "fp16" and not ({"avx512_fp16", "amx_fp16"} & f):
        return (Flag.FP16_NO_HARDWARE.value,)
    if precision == "bf16" and not ({"avx512_bf16", "amx_bf16"} & f):
        return (Flag.BF16_NO_HARDWARE.value,)
    return ()


def check_device(device: str, precision: str) -> None:
    """Raise DeviceError when ``device`` is absent or cannot run ``precision``."""
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            msg = f"device {device!r} requested but no CUDA GPU is available (torch {torch.__version__}, {build}); use --device cpu"
            raise DeviceError(msg)
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            msg = f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible; use cuda:0"
            raise DeviceError(msg)
        if precision == "int8":
            msg = (
                "precision 'int8' is not supported on cuda (efflab's int8 is PyTorch dynamic quantization, "
                "a CPU path); use --precision fp16 or bf16 on cuda, or --device cpu for int8"
            )
            raise DeviceError(msg)
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            msg = f"precision 'bf16' is not supported by {torch.cuda.get_device_name(idx)}; use --precision fp16"
            raise DeviceError(msg)


def _serialized_bytes(state: dict[str, Any]) -> int:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.tell()


class TorchRunner:
    """What every torch model runner shares: its identity, the precision applied to the loaded model
    (int8 dynamic quantisation of Linear layers, a bf16/fp16 cast, or fp32 weights under autocast),
    the autocast context, device sync and release. Subclasses load the model and define the calls."""

    kind = "torch"

    def _identity(self, source: ModelSource, precision: str, device: str, cast: str) -> None:
        import torch

        self.cast = cast
        self._autocast_dtype = (
            {"bf16": torch.bfloat16, "fp16": torch.float16}[precision] if cast == "autocast" else None
        )
        self.name = source.name
        self.model_id = source.model_id
        self.precision = precision
        self.device = device
        self.flags = precision_flags(precision, device)
        self._flop_model: Any = None

    def _apply_precision(self, model: Any) -> Any:
        """``model`` at this runner's precision on its device (keeps the fp32 graph of an int8 model
        for counting FLOPs: the same arithmetic, in int8)."""
        import torch

        if self.precision == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self._flop_model = model
            return q
        if self.precision == "bf16" and self.cast == "model":
            model = model.to(torch.bfloat16)
        elif self.precision == "fp16" and self.cast == "model":
            model = model.to(torch.float16)
        return model.to(self.device)

    def _ctx(self) -> Any:
        import contextlib

        import torch

        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self._autocast_dtype)

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self.model: Any = None
        self._flop_model = None


class HFRunner(TorchRunner):
    """A transformers model (sequence classifier or bare encoder) at a precision."""

    kind = "hf"

    def __init__(self, source: ModelSource, precision: str, device: str, cast: str = "model") -> None:
        self._identity(source, precision, device, cast)
        model, tok = _load_hf(source)
        self.tokenizer = tok
        self.n_params = int(sum(p.numel() for p in model.parameters()))
        self.can_predict = type(model).__name__.endswith("ForSequenceClassification")
        cfg = model.config
        id2label = getattr(cfg, "id2label", None) or {}
        self.label_names = tuple(str(id2label[i]) for i in sorted(id2label)) if self.can_predict else None
        self._vocab = int(getattr(cfg, "vocab_size", 30522))
        model.eval()
        self.model = self._apply_precision(model)
        self.model_bytes = _serialized_bytes(self.model.state_dict())

    def make_batch(self, texts: Sequence[str] | None, batch_size: int, seq_len: int) -> Any:
        import torch

        if texts:
            reps = list(texts)
            while len(reps) < batch_size:
                reps.extend(texts)
            enc = self.tokenizer(
                reps[:batch_size],
                padding="max_length",
                truncation=True,
                max_length=seq_len,
                return_tensors="pt",
            )
            batch = dict(enc)
        else:
            g = torch.Generator().manual_seed(0)
            ids = torch.randint(1000, self._vocab, (batch_size, seq_len), generator=g)
            batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(self, batch: Any) -> Any:
        import torch

        with torch.inference_mode(), self._ctx():
            return self.model(**batch)[0]

    def predict(self, texts: Sequence[str], batch_size: int, seq_len: int) -> np.ndarray:
        import torch

        if not self.can_predict:
            msg = f"model {self.name!r} has no classification head, so it cannot be scored on a task; measure it without --task"
            raise ModelError(msg)
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty(len(texts), dtype=np.int64)
        with torch.inference_mode(), self._ctx():
            for i in range(0, len(texts), batch_size):
                idx = order[i : i + batch_size]
                enc = self.tokenizer(
                    [texts[j] for j in idx],
                    padding=True,
                    truncation=True,
                    max_length=seq_len,
                    return_tensors="pt",
                )
                logits = self.model(**{k: v.to(self.device) for k, v in enc.items()})[0]
                out[idx] = logits.float().argmax(-1).cpu().numpy()
        return out

    def count_flops(self, batch: Any) -> float | None:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        model = self._flop_model if self._flop_model is not None else self.model
        counter = FlopCounterMode(display=False, custom_mapping=cpu_attention_flops())
        with torch.inference_mode(), self._ctx(), counter:
            model(**batch)
        self._flop_model = None  # only needed once; frees the fp32 copy of an int8 model
        total = counter.get_total_flops()
        return float(total) if total else None


def cpu_attention_flops() -> dict[Any, Any]:
    """FLOP formulas for attention kernels torch's counter misses on CPU (so CPU and CUDA agree).

    ``aten._scaled_dot_product_flash_attention_for_cpu`` (what SDPA dispatches to on CPU) is not in
    ``torch.utils.flop_counter``'s registry as of torch 2.13; its arithmetic is the same as the CUDA
    flash kernel's, so the same formula (``sdpa_flop_count``) counts it.
    """
    import torch
    from torch.utils import flop_counter as fc

    ops = [getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)]
    out: dict[Any, Any] = {}
    for op in ops:
        if op is None or op in fc.flop_registry or getattr(op, "default", None) in fc.flop_registry:
            continue

        def sdpa(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
            return int(fc.sdpa_flop_count(query_shape, key_shape, value_shape))

        out[op] = sdpa
    return out


def _load_hf(source: ModelSource) -> tuple[Any, Any]:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    attempts = [True, False] if source.is_hub else [True]
    last: Exception | None = None
    from safetensors import SafetensorError

    try:
        return _try_load_hf(source, attempts)
    except SafetensorError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        folder = source.path
        if folder is not None and (folder / "efflab_model.json").exists():
            fix = f"delete {str(folder)!r} and run `efflab zoo build {source.name}` to rebuild it"
        else:
            fix = "replace the folder's weights with a complete copy"
        msg = f"the weights of model {source.name!r} are damaged ({first}); {fix}"
        raise ModelError(msg) from e
    except _LoadFailed as e:
        last = e.__cause__ if isinstance(e.__cause__, Exception) else e
    where = "the hub (no network here?) or the local Hugging Face cache" if source.is_hub else "its folder"
    first = str(last).strip().splitlines()[0] if last else "unknown error"
    msg = f"cannot load model {source.name!r} from {where}: {first}; check the name or pass a local folder"
    raise ModelError(msg) from last


class _LoadFailed(Exception):
    """Every attempt to load a transformers model raised an OSError, ValueError or KeyError."""


def _try_load_hf(source: ModelSource, attempts: list[bool]) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    last: Exception | None = None
    for local_only in attempts:
        try:
            cfg = AutoConfig.from_pretrained(source.location, local_files_only=local_only)
            arch = [
                a
                for a in (getattr(cfg, "architectures", None) or [])
                if a.endswith("ForSequenceClassification")
            ]
            cls = AutoModelForSequenceClassification if arch else AutoModel
            model = cls.from_pretrained(source.location, local_files_only=local_only, dtype="float32")
            tok = AutoTokenizer.from_pretrained(source.location, local_files_only=local_only)
            return model, tok
        except (OSError, ValueError, KeyError) as e:
            last = e
    raise _LoadFailed() from last


class SklearnRunner:
    """A scikit-learn text pipeline (TF-IDF + logistic regression): fp32 on CPU only."""

    kind = "sklearn"
    can_predict = True

    def __init__(self, source: ModelSource, precision: str, device: str) -> None:
        if precision != "fp32":
            msg = f"model {source.name!r} (scikit-learn) runs in fp32 only, not {precision!r}; use --precision fp32"
            raise ConfigError(msg)
        if device != "cpu":
            msg = f"model {source.name!r} (scikit-learn) runs on cpu only, not {device!r}; use --device cpu"
            raise DeviceError(msg)
        import joblib

        path = Path(source.location) / "pipeline.joblib"
        try:
            self.pipeline = joblib.load(path)
        except (OSError, EOFError, ValueError) as e:
            msg = f"cannot load scikit-learn model {str(path)!r}: {e}; delete its folder to rebuild it"
            raise ModelError(msg) from e
        self.name = source.name
        self.model_id = source.model_id
        self.precision = precision
        self.device = device
        self.flags: tuple[str, ...] = ()
        meta_path = Path(source.location) / "efflab_model.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        self.label_names = tuple(meta["label_names"]) if meta.get("label_names") else None
        self.n_params = int(
            sum(
                int(getattr(step, attr).size)
                for _, step in self.pipeline.steps
                for attr in ("coef_", "intercept_", "idf_")
                if hasattr(step, attr)
            )
        )
        self.model_bytes = int(path.stat().st_size)

    def make_batch(self, texts: Sequence[str] | None, batch_size: int, seq_len: int) -> Any:
        src = list(texts) if texts else [_FILLER]
        reps = (src * (batch_size // len(src) + 1))[:batch_size]
        return reps

    def forward(self, batch: Any) -> Any:
        return self.pipeline.predict_proba(batch)

    def synchronize(self) -> None:
        return None

    def predict(self, texts: Sequence[str], batch_size: int, seq_len: int) -> np.ndarray:
        return np.asarray(self.pipeline.predict(list(texts)), dtype=np.int64)

    def count_flops(self, batch: Any) -> float | None:
        return None  # sparse arithmetic: torch's FLOP counter does not see it

    def close(self) -> None:
        return None


def load_runner(source: ModelSource, precision: str, device: str, cast: str = "model") -> Runner:
    """Load ``source`` at ``precision`` on ``device``.

    Raises:
        DeviceError: the device is absent or cannot run the precision.
        ConfigError: the model kind does not support the precision.
        ModelError: the model cannot be loaded.
    """
    if source.kind == "sklearn":
        return SklearnRunner(source, precision, device)
    if source.kind not in ("hf", "causal-lm"):
        msg = (
            f"model {source.name!r} has unknown kind {source.kind!r}; expected 'hf', 'causal-lm' or 'sklearn'"
        )
        raise ModelError(msg)
    check_device(device, precision)
    if source.kind == "causal-lm" or (source.is_hub and _hub_is_causal(source)):
        from efflab.models.causal import CausalLMRunner

        return CausalLMRunner(source, precision, device, cast)
    return HFRunner(source, precision, device, cast)


def _hub_is_causal(source: ModelSource) -> bool:
    """True when a hub id names a decoder-only language model (False when its config is unreachable:
    the encoder loader then reports the error)."""
    from transformers import AutoConfig

    from efflab.models.causal import is_causal_config

    for local_only in (True, False):
        try:
            return is_causal_config(AutoConfig.from_pretrained(source.location, local_files_only=local_only))
        except (OSError, ValueError, KeyError):
            continue
    return False
