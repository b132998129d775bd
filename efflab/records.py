"""Frozen result records. Units are in the field names; derived values are properties.

Records do no I/O and no printing. ``Measurement`` round-trips through JSON exactly.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from dataclasses import dataclass, field
from typing import Any

# What each flag on a Measurement means, in words (reports, dashboards and the CLI show these).
FLAG_MEANINGS: dict[str, str] = {
    "energy_estimated": "energy is estimated (no hardware energy counter was readable), not measured; "
    "read it with its uncertainty",
    "noisy": "other processes used more than the allowed share of the CPU during the timed window, so "
    "latency and energy may be inflated; re-measure on a quiet machine",
    "hit_time_cap": "a timed window reached its time cap, or the point used its most windows, before the "
    "latency's 95 % confidence interval reached its target, so the latency is less certain than the target",
    "p95_insufficient_samples": "too few timed batches for a p95 latency; the mean and median are shown",
    "peak_mem_is_process_lifetime": "the peak-memory counter could not be reset, so peak memory is the "
    "process's lifetime peak (an upper bound)",
    "no_classifier_head": "the model has no classification head, so its accuracy was not measured",
    "flops_not_counted": "FLOPs per query could not be counted for this model, so MFU is not shown",
    "fp16_no_hardware": "this CPU has no native fp16 arithmetic; fp16 runs emulated and slowly",
    "bf16_no_hardware": "this CPU has no native bf16 arithmetic; bf16 runs emulated and slowly",
    "shared_host": "several measurement workers ran on this host at the same time, so they competed for it",
    "unstable": "the timing windows of this point disagreed beyond their intervals even after re-measuring, "
    "so its latency and energy are not trustworthy; it is kept but left out of stars and recommendations",
    "disturbed": "this process got clearly less CPU than it asked for (or other processes took a large share) "
    "in some windows even after re-measuring; the point is kept but left out of stars and recommendations",
    "busy_machine": "other processes used a large share of the machine through this point's windows (steady "
    "load beside the run): its figures are those of a busy machine; comparisons in the same rounds cancel it",
    "peak_underestimated": "the achieved FLOP/s exceeded the measured GEMM peak even after re-measuring it, so "
    "the peak is too low and MFU is not shown",
}


class Flag(str, enum.Enum):
    """A measurement's flags (the values are the strings stored in records and frames)."""

    ENERGY_ESTIMATED = "energy_estimated"
    NOISY = "noisy"
    HIT_TIME_CAP = "hit_time_cap"
    P95_INSUFFICIENT_SAMPLES = "p95_insufficient_samples"
    PEAK_MEM_IS_PROCESS_LIFETIME = "peak_mem_is_process_lifetime"
    NO_CLASSIFIER_HEAD = "no_classifier_head"
    FLOPS_NOT_COUNTED = "flops_not_counted"
    FP16_NO_HARDWARE = "fp16_no_hardware"
    BF16_NO_HARDWARE = "bf16_no_hardware"
    SHARED_HOST = "shared_host"
    UNSTABLE = "unstable"
    DISTURBED = "disturbed"
    BUSY_MACHINE = "busy_machine"
    PEAK_UNDERESTIMATED = "peak_underestimated"

    def __str__(self) -> str:
        return self.value

    @property
    def meaning(self) -> str:
        return FLAG_MEANINGS[self.value]


def flag_names(raw: object) -> tuple[str, ...]:
    """Every flag name of a record's tuple, a frame's ``a,b`` text (the store's one joined form) or any
    iterable of names, in stored order, unknown names kept (to show them). The one reading of that text."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
    return tuple(n for n in (str(x).strip() for x in items) if n)


def parse_flags(raw: object) -> frozenset[Flag]:
    """Flags from a record's tuple, a frame's ``a,b`` text or any iterable of names; names this
    version does not know are left out (an old or newer record's extra flag is not an error)."""
    known = {f.value for f in Flag}
    return frozenset(Flag(n) for n in flag_names(raw) if n in known)


class PointStatus(str, enum.Enum):
    """A point's status: ``ok`` or ``failed`` in the store; a sweep also says ``skipped`` (already stored)
    and ``paired`` (its paired pass). Compares equal to its text, which is what the store and frames hold."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    PAIRED = "paired"

    def __str__(self) -> str:
        return self.value


# What ``Measurement.energy_basis`` can be: read from a hardware counter, or a model of CPU time x watts.
ENERGY_BASES: tuple[str, ...] = ("measured", "modelled", "modelled (user watts)")


@dataclass(frozen=True)
class EnergyReading:
    """Energy over one sensor window.

    Attributes:
        energy_j: energy in joules attributed to the window.
        duration_s: window length in seconds.
        source: ``nvml``, ``rapl``, ``codecarbon`` or ``fake``.
        measured: True when read from a hardware counter, False when estimated from a model.
        uncertainty_rel: relative uncertainty (0.5 = +/- 50 %) of ``energy_j``.
        detail: how the figure was obtained, in words.
    """

    energy_j: float
    duration_s: float
    source: str
    measured: bool
    uncertainty_rel: float
    detail: str = ""

    cpu_j: float | None = None
    ram_j: float | None = None
    gpu_j: float | None = None
    cpu_seconds: float | None = None
    cpu_watts_per_thread: float | None = None
    ram_watts: float | None = None
    cpu_power_matched: bool | None = None
    basis: str = ""

    def __post_init__(self) -> None:
        if not self.basis:
            object.__setattr__(self, "basis", "measured" if self.measured else "modelled")

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else float("nan")


@dataclass(frozen=True)
class WindowSummary:
    """One timing window of a point (a point is measured as several windows, separated in time).

    Attributes:
        n_batches: timed batches in the window.
        window_s: wall seconds of the timed batches.
        mean_s, median_s: mean and median batch latency in the window, seconds.
        ci_half_s: 95 % CI half-width of the mean within the window (batches treated as independent).
        cpu_s: CPU seconds this process used during the window (all threads).
        disturbed: the process got clearly less CPU than it asked for, or others took a large share.
        energy_j: the sensor's energy over the window.
        other_cpu_share: share (0..1) of the machine's CPU used by other processes (None: unreadable).
        used: whether the window counts in the point's statistics (a re-measured window does not).
        batch_times_us: every timed batch's latency in whole microseconds (compact; recompute from it).
        energy_cpu_j, energy_ram_j, energy_gpu_j: the window's energy parts where the sensor has them.
    """

    n_batches: int
    window_s: float
    mean_s: float
    median_s: float
    ci_half_s: float | None
    cpu_s: float | None
    disturbed: bool
    energy_j: float
    other_cpu_share: float | None = None
    used: bool = True
    batch_times_us: tuple[int, ...] = ()
    energy_cpu_j: float | None = None
    energy_ram_j: float | None = None
    energy_gpu_j: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowSummary:
        d = dict(d)
        d["batch_times_us"] = tuple(int(x) for x in d.get("batch_times_us") or ())
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Fingerprint:
    """The machine and software a measurement ran on, and how busy the machine was."""

    cpu_model: str
    cpu_count: int
    threads: int
    gpu_name: str | None
    gpu_driver: str | None
    torch_version: str
    transformers_version: str
    efflab_version: str
    python_version: str
    platform: str
    hostname: str
    load_avg_1m_before: float
    load_avg_1m_after: float
    other_cpu_share: float | None
    cpu_flags: tuple[str, ...] = ()

    @property
    def hardware_key(self) -> str:
        """What makes two measurements comparable: the cohort's hardware."""
        gpu = f" + {self.gpu_name}" if self.gpu_name else ""
        return f"{self.cpu_model} x{self.threads}t{gpu}"


@dataclass(frozen=True)
class Measurement:
    """What one configuration cost, and how sure we are.

    Latency figures are per batch unless the name says otherwise. ``latency_ci_s`` is the 95 %
    re-run half-width of the mean batch latency: another run of this point on this machine lands
    within it 95 % of the time (records older than ``run_spread``: the windows' interval only). Energy figures carry their source and
    whether they were measured or estimated; ``energy_uncertainty_rel`` is the relative uncertainty
    of the energy figures (the timing CI is not included in it).
    """

    model: str
    model_id: str
    batch_size: int
    precision: str
    device: str
    seq_len: int
    task: str | None
    # timing
    n_batches: int
    warmup_batches: int
    window_s: float
    latency_s: float
    latency_std_s: float
    latency_ci_s: float
    latency_p50_s: float
    latency_p95_s: float | None
    throughput_qps: float
    # energy
    energy_j: float
    energy_j_per_query: float
    energy_source: str
    energy_measured: bool
    energy_uncertainty_rel: float
    energy_detail: str
    co2e_g_per_1000_queries: float
    country: str
    carbon_intensity_g_per_kwh: float
    # memory and size
    peak_mem_bytes: int | None
    model_bytes: int
    n_params: int
    # distance to the limit
    flops_per_query: float | None
    achieved_flops_per_s: float | None
    gemm_peak_flops_per_s: float | None
    mfu: float | None
    # worth
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    n_eval: int | None
    # provenance
    flags: tuple[str, ...]
    fingerprint: Fingerprint
    timestamp: str
    method: dict[str, Any] = field(default_factory=dict)
    cast: str = "model"
    # replicated windows (records written before them have one window)
    n_windows: int = 1
    windows: tuple[WindowSummary, ...] = ()
    latency_median_s: float | None = None
    energy_j_per_query_ci: float | None = None
    # what the energy figure is made of
    energy_basis: str = ""
    energy_cpu_j: float | None = None
    energy_ram_j: float | None = None
    energy_gpu_j: float | None = None
    cpu_seconds: float | None = None
    cpu_watts_per_thread: float | None = None
    ram_watts: float | None = None
    cpu_power_matched: bool | None = None
    sensor: str = ""
    # per-example correctness on the task's test split, '0'/'1' in test order (the paired test uses it)
    accuracy_correct: str | None = None
    unstable_reason: str | None = None

    # ----- generation (workload "generate"; None for classification points) -----
    # Per response = one sequence of ``max_new_tokens`` output tokens; the energy of a response is
    # ``energy_prefill_j + energy_decode_j`` (= ``energy_j_per_query``), each from its own sensor window.
    workload: str = "classify"
    max_new_tokens: int | None = None
    prompt_tokens: float | None = None  # mean prompt length (tokens, padding excluded)
    ttft_s: float | None = None  # time to first token (the prefill of the batch), mean
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    ttft_ci_s: float | None = None  # 95 % CI half-width of the mean TTFT
    itl_s: float | None = None  # inter-token latency (one decode step of the batch), mean; None: no decode
    itl_p50_s: float | None = None
    itl_p95_s: float | None = None
    itl_ci_s: float | None = None
    tokens_per_s: float | None = None  # output tokens per second, whole responses (prefill + decode)
    energy_j_per_token: float | None = None  # per output token
    energy_prefill_j: float | None = None  # per response
    energy_decode_j: float | None = None  # per response (0 when max_new_tokens is 1: no decode step)
    kv_cache_bytes: int | None = None  # the KV cache of the batch at the end of a response
    flops_per_token: float | None = None  # decode FLOPs per output token per sequence
    # ----- a causal LM scored on the task by prompting (efflab.tasks.prompting) -----
    # the rule kept on the validation slice, in words ("k=8 of 0/4/8, validation 74.0 % on 100 train
    # texts, calibrated"), and the majority-class rate of the scored test texts (the accuracy of always
    # answering the train split's most common label): above chance only when the accuracy's interval
    # lies above it. Old records: None.
    prompting: str | None = None
    majority_rate: float | None = None
    # ----- the re-run interval (efflab.measuring.rerun) -----
    # ``latency_ci_s`` / ``energy_j_per_query_ci`` hold where another run's mean lands (95 %): the
    # windows' spread plus ``run_spread`` (relative sd of a run's mean beyond its windows), for this
    # run and the next. The windows' own intervals are kept beside them. Old records: None.
    run_spread: float | None = None
    run_spread_source: str = ""
    latency_ci_windows_s: float | None = None
    energy_ci_windows_j: float | None = None

    def __post_init__(self) -> None:
        # Old records: derive what they did not store, never invent a number.
        if not self.energy_basis:
            object.__setattr__(self, "energy_basis", "measured" if self.energy_measured else "modelled")
        if self.latency_median_s is None:
            object.__setattr__(self, "latency_median_s", self.latency_p50_s)

    # ----- derived -----
    @property
    def wh_per_1000_queries(self) -> float:
        """Energy for 1000 queries in watt-hours."""
        return self.energy_j_per_query * 1000.0 / 3600.0

    @property
    def wh_per_1000_responses(self) -> float | None:
        """Energy for 1000 generated responses in watt-hours (``generate`` points only)."""
        return self.wh_per_1000_queries if self.workload == "generate" else None

    @property
    def latency_per_query_s(self) -> float:
        return self.latency_s / self.batch_size

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.window_s if self.window_s > 0 else float("nan")

    @property
    def energy_label(self) -> str:
        """'measured (nvml)', 'modelled (codecarbon)' or 'modelled (user watts) (codecarbon)'."""
        return f"{self.energy_basis} ({self.energy_source})"

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived ``wh_per_1000_queries`` and ``latency_per_query_s``."""
        d = dataclasses.asdict(self)
        d["flags"] = list(self.flags)
        d["accuracy_ci"] = list(self.accuracy_ci) if self.accuracy_ci is not None else None
        d["fingerprint"]["cpu_flags"] = list(self.fingerprint.cpu_flags)
        d["windows"] = [{**w, "batch_times_us": list(w["batch_times_us"])} for w in d["windows"]]
        d["wh_per_1000_queries"] = self.wh_per_1000_queries
        d["latency_per_query_s"] = self.latency_per_query_s
        d["wh_per_1000_responses"] = self.wh_per_1000_responses
        return {k: _json_safe(v) for k, v in d.items()}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        d = dict(d)
        for derived in ("wh_per_1000_queries", "latency_per_query_s", "wh_per_1000_responses"):
            d.pop(derived, None)
        fp = dict(d.pop("fingerprint"))
        fp["cpu_flags"] = tuple(fp.get("cpu_flags") or ())
        d["fingerprint"] = Fingerprint(**fp)
        d["flags"] = tuple(d.get("flags") or ())
        ci = d.get("accuracy_ci")
        d["accuracy_ci"] = (float(ci[0]), float(ci[1])) if ci is not None else None
        d["windows"] = tuple(WindowSummary.from_dict(w) for w in d.get("windows") or ())
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        return cls.from_dict(json.loads(text))


def _json_safe(v: Any) -> Any:
    # JSON has no NaN/inf; None keeps the round trip honest ("not available").
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


@dataclass(frozen=True)
class Visit:
    """One contender's turn in one round of a paired (interleaved) run.

    A paired run loads every contender at once; each round visits every contender once, in a fresh
    random order: one untimed warm-up batch, then whole batches for about ``visit_s`` seconds inside
    one sensor window. Visits of the same round share the machine's state of the moment, so the
    ratio of two contenders' figures within a round cancels what is common to the round.

    Attributes:
        session: id of the paired run (every visit of one run shares it).
        round: the round's number, from 0.
        position: the visit's place in its round's random order, from 0.
        key: the store key of the contender's point.
        queries: queries timed in the visit (batches x batch size).
        wall_s: wall seconds of the timed batches.
        energy_j: the sensor's energy over the visit.
        cpu_s: CPU seconds this process used in the visit (all threads; None: unreadable).
        other_cpu_share: share (0..1) of the machine's CPU used by other processes (None: unreadable).
        disturbed: the visit got clearly less CPU than its contender's usual, or others took a clearly
            larger share than usual: its round is dropped for every contender.
        hardware: the cohort hardware the visit ran on.
        at: when the visit ran (ISO 8601, UTC).
    """

    session: str
    round: int
    position: int
    key: str
    queries: int
    wall_s: float
    energy_j: float
    cpu_s: float | None = None
    other_cpu_share: float | None = None
    disturbed: bool = False
    hardware: str = ""
    at: str = ""

    @property
    def latency_per_query_s(self) -> float:
        return self.wall_s / self.queries if self.queries > 0 else math.nan

    @property
    def energy_j_per_query(self) -> float:
        return self.energy_j / self.queries if self.queries > 0 else math.nan

    def per_query(self, metric: str) -> float:
        """``energy`` (J per query) or ``latency`` (s per query)."""
        return self.energy_j_per_query if metric == "energy" else self.latency_per_query_s
