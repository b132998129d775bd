"""Specs: what to measure and how. Dataclasses with validation only in ``__post_init__``.

The CLI, papermill parameters and YAML files all build these same types.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from efflab.errors import ConfigError, closest

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")
DEVICES: tuple[str, ...] = ("cpu", "cuda")
CASTS: tuple[str, ...] = ("model", "autocast")
WORKLOADS: tuple[str, ...] = ("classify", "generate")
DEFAULT_MAX_NEW_TOKENS = 16

# The configuration fields' defaults, declared once: Config, SweepSpec, the report's measuring grid,
# the lab's selection and the CLI's help read them from here.
DEFAULT_DEVICE = "cpu"
DEFAULT_SEQ_LEN = 128
DEFAULT_CAST = "model"
DEFAULT_TASK = "reviews"  # the built-in task a sweep measures accuracy on (a single Config: none)

# The defaults a person may change, declared once (their parsers, help lines and CLI flags are in
# efflab.options, which re-exports these; the sensors and the sweep, below it, read them from here).
DEFAULT_QUERIES_PER_DAY = 1_000_000.0
DEFAULT_COUNTRY = "USA"
DEFAULT_PRICE_PER_KWH = 0.15
DEFAULT_CURRENCY = "USD"
DEFAULT_TOLERANCE = 0.01


def positive_int(name: str, value: Any, fix: str) -> int:
    """``value`` as a positive int (digits in text and whole floats too); ConfigError naming ``name``
    and ``fix`` otherwise."""
    # bool is an int subclass; "True" as a batch size is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        if (isinstance(value, str) and value.strip().lstrip("+-").isdigit()) or (
            isinstance(value, float) and value.is_integer()
        ):
            value = int(str(value).strip()) if isinstance(value, str) else int(value)
        else:
            msg = f"{name} must be a positive integer, got {value!r}; {fix}"
            raise ConfigError(msg)
    if value <= 0:
        msg = f"{name} must be a positive integer, got {value!r}; {fix}"
        raise ConfigError(msg)
    return int(value)


def parse_device(value: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (lower-cased); ConfigError otherwise."""
    dev = str(value).strip().lower()
    base = dev.split(":", 1)[0]
    if base not in DEVICES:
        msg = f"unknown device {value!r}; use one of {', '.join(DEVICES)} (e.g. cuda:0).{closest(base, DEVICES)}"
        raise ConfigError(msg)
    if ":" in dev and not dev.split(":", 1)[1].isdigit():
        msg = f"bad device index in {value!r}; write it as cuda:N with N a number"
        raise ConfigError(msg)
    return dev


def parse_precision(value: str) -> str:
    """One of :data:`PRECISIONS` (lower-cased); ConfigError otherwise."""
    p = str(value).strip().lower()
    if p not in PRECISIONS:
        msg = f"unknown precision {value!r}; use one of {', '.join(PRECISIONS)}.{closest(p, PRECISIONS)}"
        raise ConfigError(msg)
    return p


def parse_cast(value: Any) -> str:
    """How fp16/bf16 are applied: one of :data:`CASTS` (lower-cased); ConfigError otherwise. The one
    check of the cast (a configuration, a sweep, the lab's selection, a report's filter)."""
    c = value.strip().lower() if isinstance(value, str) else value
    if c not in CASTS:
        msg = f"unknown cast {value!r}; use one of {', '.join(CASTS)}.{closest(str(c), CASTS)}"[:300]
        raise ConfigError(msg)
    return str(c)


def _positive_float(name: str, value: Any, fix: str, *, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0), from a number or a numeric string; ConfigError naming the fix."""
    try:
        if isinstance(value, bool):
            raise ValueError
        v = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {value!r}; {fix}"
        raise ConfigError(msg) from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be a finite number {bound}, got {value!r}; {fix}"
        raise ConfigError(msg)
    return v


@dataclass(frozen=True)
class MethodSettings:
    """How a configuration is measured.

    A point is timed as ``windows`` independent windows (interleaved with other points in a sweep);
    its windows' interval comes from the spread of the window means (Student t, k-1 degrees of
    freedom), never narrower than the within-window interval; the interval a point reports adds the
    run spread (drift between runs, :mod:`efflab.measuring.rerun`).

    Attributes:
        target_ci_rel: more windows are added (up to ``max_windows``) while the 95 % CI half-width of
            the mean batch latency is above this fraction of the mean (0.05 = 5 %).
        windows: timing windows per point (k >= 1; 1 is the single-window method of efflab <= 0.1).
        max_windows: most windows a point gets when its interval is above the target.
        remeasure_windows: extra windows a point may spend re-measuring disturbed or disagreeing
            windows before it is flagged ``disturbed`` or ``unstable``.
        min_window_s: minimum length of one timing window in seconds; ``None`` = 0.3 s on CPU, 5 s
            on GPU (the NVML energy counter updates about every 100 ms). Five windows of 0.3 s take
            the time three of 0.5 s took, and their t interval on 4 degrees of freedom (2.78) is far
            narrower than three windows' on 2 (4.30).
        max_window_s: time cap of one window in seconds (the window budget); windows that reach it
            before ``min_batches`` are flagged ``hit_time_cap``.
        warmup_s: minimum warm-up time in seconds (at least ``warmup_batches`` are run too).
        warmup_batches: minimum number of warm-up batches before a point's first window (later
            windows, after other points ran, get one warm-up batch each, unless one batch of the point
            takes longer than the minimum window: then its cold start is a small part of the window,
            and a warm-up batch would double the window's cost).
        min_batches: minimum number of timed batches per window.
        p95_min_samples: p95 is reported only with at least this many timed batches.
        noisy_other_cpu_share: a window in which other processes used this much more of the machine's
            CPU than in the point's usual window (the median of its windows) is disturbed: a burst, where
            steady load beside the run is common to every window (the point is then flagged
            ``busy_machine``, and the paired pass compares it with its contenders in the same load).
        disturbed_cpu_ratio: a window in which this process's CPU-seconds per wall second fell below
            this fraction of its best window (of the same point) is disturbed.
        outlier_rel: a window whose mean is further than this fraction from the median window mean
            (and outside its own interval) disagrees with the others and is re-measured.
        cpu_power_w: the CPU's power at full load in watts, if you know it (wall meter, vendor sheet);
            CodeCarbon's ``force_cpu_power``. Energy is then ``modelled (user watts)``.
        ram_power_w: the RAM's power in watts (CodeCarbon's ``force_ram_power``).
        country: ISO 3166-1 alpha-3 code for CO2e intensity (CodeCarbon's offline data).
        prompt_shots: train examples in the prompt when a causal LM is scored on a task by prompting
            (0 = zero-shot); None = 0, 4 and 8 are tried on the validation slice and the best kept;
            see :mod:`efflab.tasks.prompting`.
        prompt_validation: train texts (never shots) on which the shots and the calibration are
            chosen (0 = none: uncalibrated, with ``prompt_shots`` examples).
        prompt_eval_limit: score a prompted causal LM on the first N test texts only (None = all; the
            default 200 keeps a sweep within minutes on 2 CPU cores, with a wider interval).
        run_spread: relative standard deviation of a run's mean beyond its windows' spread (drift
            between runs; see :mod:`efflab.measuring.rerun`). ``None``: learned from the store's
            re-runs on this machine by a sweep, else the 6 % prior.
        run_spread_source: where ``run_spread`` came from (recorded with every point).
        threads: CPU threads torch uses while measuring; ``None`` with no ``threads_source``: decided
            by the probe when a sweep or measurement starts (``--threads auto``, the default), else
            torch's default (one per core). Part of the cohort when not the default ("… x2 · 1 thread");
            see :mod:`efflab.measuring.threads`.
        threads_source: why the thread count is what it is (the probe's finding, or "set by you").
    """

    target_ci_rel: float = 0.05
    windows: int = 5
    max_windows: int = 8
    remeasure_windows: int = 3
    min_window_s: float | None = None
    max_window_s: float = 10.0
    warmup_s: float = 0.25
    warmup_batches: int = 2
    min_batches: int = 3
    p95_min_samples: int = 20
    noisy_other_cpu_share: float = 0.25
    disturbed_cpu_ratio: float = 0.6
    outlier_rel: float = 0.25
    cpu_power_w: float | None = None
    ram_power_w: float | None = None
    country: str = DEFAULT_COUNTRY
    prompt_shots: int | None = None
    prompt_validation: int = 100
    prompt_eval_limit: int | None = 200
    run_spread: float | None = None
    run_spread_source: str = ""
    threads: int | None = None
    threads_source: str = ""

    def __post_init__(self) -> None:
        self.prompt_protocol()  # validates the prompting fields
        if self.threads is not None:
            import os

            n = positive_int("threads", self.threads, "use e.g. --threads 1")
            cpus = os.cpu_count() or 1
            if n > cpus:
                msg = f"--threads {n} is more than this machine's {cpus} CPU(s); use --threads 1 to {cpus}"
                raise ConfigError(msg)
            object.__setattr__(self, "threads", n)
        if self.run_spread is not None:
            rs = _positive_float(
                "run_spread",
                self.run_spread,
                "use a fraction such as --run-spread 0.05 (5 %)",
                allow_zero=True,
            )
            if not rs < 1:
                msg = f"run_spread must be a fraction in [0, 1), got {self.run_spread!r}; use e.g. --run-spread 0.05 (5 %)"
                raise ConfigError(msg)
            object.__setattr__(self, "run_spread", rs)
        if not isinstance(self.run_spread_source, str):
            msg = f"run_spread_source must be text, got {self.run_spread_source!r}"
            raise ConfigError(msg)
        object.__setattr__(
            self,
            "warmup_s",
            _positive_float("warmup_s", self.warmup_s, "use e.g. 0.25 (seconds)", allow_zero=True),
        )
        tci = _positive_float("target_ci_rel", self.target_ci_rel, "use e.g. --target-ci 0.05 (5 %)")
        if not tci < 1:
            msg = f"target_ci_rel must be in (0, 1), got {self.target_ci_rel!r}; use e.g. --target-ci 0.05 (5 %)"
            raise ConfigError(msg)
        object.__setattr__(self, "target_ci_rel", tci)
        object.__setattr__(
            self, "windows", positive_int("windows", self.windows, "use e.g. --windows 3 (1 = one window)")
        )
        object.__setattr__(
            self, "max_windows", positive_int("max_windows", self.max_windows, "use e.g. max_windows: 6")
        )
        if self.max_windows < self.windows:
            object.__setattr__(self, "max_windows", self.windows)
        if isinstance(self.remeasure_windows, bool) or not isinstance(self.remeasure_windows, int):
            msg = f"remeasure_windows must be a non-negative integer, got {self.remeasure_windows!r}"
            raise ConfigError(msg)
        if self.remeasure_windows < 0:
            msg = f"remeasure_windows must be a non-negative integer, got {self.remeasure_windows!r}"
            raise ConfigError(msg)
        if self.min_window_s is not None:
            object.__setattr__(
                self,
                "min_window_s",
                _positive_float(
                    "min_window_s", self.min_window_s, "use e.g. --min-window 0.5", allow_zero=True
                ),
            )
        object.__setattr__(
            self,
            "max_window_s",
            _positive_float("max_window_s", self.max_window_s, "use e.g. --max-window 10"),
        )
        if self.min_window_s is not None and self.max_window_s < self.min_window_s:
            msg = (
                f"max_window_s ({self.max_window_s:g}) is smaller than the minimum window min_window_s "
                f"({self.min_window_s:g}); raise --max-window or lower --min-window"
            )
            raise ConfigError(msg)
        for name in ("warmup_batches", "min_batches", "p95_min_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "warmup_batches" else 1):
                msg = f"{name} must be a non-negative integer, got {v!r}"
                raise ConfigError(msg)
        for name in ("noisy_other_cpu_share", "disturbed_cpu_ratio", "outlier_rel"):
            v = _positive_float(name, getattr(self, name), f"use a fraction such as 0.25 for {name}")
            object.__setattr__(self, name, v)
        for name, flag in (("cpu_power_w", "--cpu-power"), ("ram_power_w", "--ram-power")):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _positive_float(name, v, f"give watts, e.g. {flag} 65"))
        if not isinstance(self.country, str) or len(self.country) != 3 or not self.country.isalpha():
            msg = f"country must be an ISO 3166-1 alpha-3 code such as USA, FRA or DEU, got {self.country!r}"
            raise ConfigError(msg)
        object.__setattr__(self, "country", self.country.upper())

    def prompt_protocol(self) -> Any:
        """The :class:`efflab.tasks.prompting.PromptProtocol` these settings describe."""
        from efflab.tasks.prompting import PromptProtocol

        return PromptProtocol(
            shots=self.prompt_shots, validation=self.prompt_validation, eval_limit=self.prompt_eval_limit
        )

    @property
    def energy_basis(self) -> str:
        """``modelled (user watts)`` when the user gave watts, else decided by the sensor."""
        return "modelled (user watts)" if self.cpu_power_w is not None or self.ram_power_w is not None else ""

    def window_min_s(self, device: str) -> float:
        """The minimum timed window for ``device`` in seconds."""
        if self.min_window_s is not None:
            return float(self.min_window_s)
        return 5.0 if device.startswith("cuda") else 0.3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MethodSettings:
        if not isinstance(d, dict):
            msg = f"method must be a mapping of settings such as {{max_window_s: 10}}, got {d!r}"[:300]
            raise ConfigError(msg)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = f"unknown method setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            raise ConfigError(msg)
        return cls(**d)


@dataclass(frozen=True)
class Choice:
    """The fields a person picks for one configuration: declared once, shared by :class:`Config` (what is
    measured) and the lab's ``widgets.selection.Selection`` (what its controls show).

    Attributes:
        model: a zoo name (``efflab zoo list``), a Hugging Face model folder, or a hub id.
        batch_size: queries per forward pass (positive integer).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``int8`` (dynamic quantization of Linear layers, CPU).
        device: ``cpu`` or ``cuda`` / ``cuda:N``.
        task: a task name (``reviews``) or CSV path for accuracy; ``None`` measures cost only.
        cast: how fp16/bf16 are applied: ``model`` casts the weights (half the bytes), ``autocast``
            keeps fp32 weights and runs matmuls in the lower precision (``torch.autocast``).
        workload: ``classify`` (one forward pass per query; a causal LM scores the task by
            prompting) or ``generate`` (a causal LM answers each prompt with ``max_new_tokens``
            greedy tokens; ``batch_size`` = sequences generated together).
    """

    model: str = "minilm-l6"
    batch_size: int = 32
    precision: str = "fp32"
    device: str = DEFAULT_DEVICE
    task: str | None = None
    cast: str = DEFAULT_CAST
    workload: str = "classify"

    def _check_choice(self, model_fix: str, batch_fix: str) -> None:
        """Validate and normalise the shared fields in place (ConfigError naming the value and the fix):
        the one check of each, whichever of the two classes holds them."""
        set_ = object.__setattr__
        set_(self, "cast", parse_cast(self.cast))
        if not isinstance(self.model, str) or not self.model.strip():
            msg = f"model must be a non-empty name or path, got {self.model!r}; {model_fix}"
            raise ConfigError(msg)
        set_(self, "model", self.model.strip())
        set_(self, "batch_size", positive_int("batch size", self.batch_size, batch_fix))
        set_(self, "precision", parse_precision(self.precision))
        set_(self, "device", parse_device(self.device))
        set_(self, "workload", parse_workload(self.workload))


@dataclass(frozen=True)
class Config(Choice):
    """One model configuration to measure: a :class:`Choice` (model, batch_size, precision, device, task,
    cast, workload) and what a measurement adds.

    Attributes:
        seq_len: tokens per query; inputs are padded or truncated to this length so that every
            batch costs the same (for ``generate``: task text tokens in each prompt).
        max_new_tokens: tokens generated per response (``generate`` only; default 16). End of
            sequence is ignored so that every configuration generates the same number.
    """

    seq_len: int = DEFAULT_SEQ_LEN
    max_new_tokens: int | None = None

    def __post_init__(self) -> None:
        self._check_choice("see `efflab zoo list`", "use e.g. --batch-size 32")
        _workload_fields(self)
        object.__setattr__(self, "seq_len", positive_int("seq_len", self.seq_len, "use e.g. --seq-len 128"))
        if self.cast == "autocast" and self.precision not in ("fp16", "bf16"):
            msg = f"autocast applies to fp16 and bf16, not {self.precision!r}; use --cast model"
            raise ConfigError(msg)
        if self.task is not None and (not isinstance(self.task, str) or not self.task.strip()):
            msg = f"task must be a task name or CSV path, got {self.task!r}; e.g. --task reviews"
            raise ConfigError(msg)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict; ``workload`` and ``max_new_tokens`` only when not at their defaults,
        so the store keys of classification points measured before they existed stay the same."""
        d = dataclasses.asdict(self)
        if d["workload"] == "classify":
            d.pop("workload")
        if d["max_new_tokens"] is None:
            d.pop("max_new_tokens")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = f"unknown config field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            raise ConfigError(msg)
        return cls(**d)


def parse_workload(value: Any) -> str:
    """One of :data:`WORKLOADS` (lower-cased); ConfigError otherwise."""
    w = str(value).strip().lower() if isinstance(value, str) else value
    if w not in WORKLOADS:
        msg = f"unknown workload {value!r}; use one of {', '.join(WORKLOADS)}.{closest(str(w), WORKLOADS)}"
        raise ConfigError(msg)
    return str(w)


def parse_max_new_tokens(value: Any, fix: str = "use e.g. --max-new-tokens 16") -> int:
    """Tokens generated per response: a positive integer (``None``: the default, 16); ConfigError
    naming the value and ``fix`` otherwise. Whether it fits the model's context is checked when the
    model is loaded."""
    return positive_int("max_new_tokens", DEFAULT_MAX_NEW_TOKENS if value is None else value, fix)


def _workload_fields(cfg: Config) -> None:
    """Validate and normalise ``workload`` and ``max_new_tokens`` of ``cfg`` (in place)."""
    w = parse_workload(cfg.workload)
    object.__setattr__(cfg, "workload", w)
    n = cfg.max_new_tokens
    if w == "classify":
        if n is not None:
            msg = f"max_new_tokens ({n!r}) applies to --workload generate only; drop it or add --workload generate"
            raise ConfigError(msg)
        return
    object.__setattr__(cfg, "max_new_tokens", parse_max_new_tokens(n))
