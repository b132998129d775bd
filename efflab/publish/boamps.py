"""BoAmps records of measured points: one report per point, in Boavizta's BoAmps format.

BoAmps (https://github.com/Boavizta/BoAmps, schemas under ``model/``) is a JSON format for the energy
of an ML task. The records are built with CodeCarbon's own BoAmps data model
(``codecarbon.output_methods.boamps``, CodeCarbon >= 3.2.6), which serializes to the schema's
camelCase fields; CodeCarbon's mapper reads a CodeCarbon run, efflab maps its stored points itself.

What a report of an efflab point says:

- ``task``: stage ``inference``, family ``text classification`` (or ``text generation``), the number
  of queries the measured windows ran (``nbRequest``), the model (parameters in billions, precision as
  ``quantization``), the input (tokens per query for encoders: padded to ``seq_len``), the accuracy.
- ``measures``: the energy of those windows in kWh (``powerConsumption``) over their seconds
  (``measurementDuration``), so ``powerConsumption / nbRequest`` is the energy per query; the sensor in
  ``cpuTrackingMode`` / ``gpuTrackingMode`` (``constant`` for a modelled CPU energy, as CodeCarbon says).
- ``quality``: BoAmps' three classes (high ±10 %, medium ±25 %, low ±50 %) from the point's 95 %
  re-run interval combined with its energy basis' systematic uncertainty; BoAmps has no interval field,
  so ``taskDescription`` states the figure with its interval and basis in words.
- ``infrastructure.infraType`` is ``other``: efflab does not know whether the machine is a cloud VM.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from typing import TYPE_CHECKING, Any

from efflab import __version__
from efflab import format as fmt
from efflab.analysis.assess import energy_text
from efflab.analysis.eligibility import exclusion_reason
from efflab.analysis.uncertainty import number, statistical_half_j, systematic_half_j, value
from efflab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

# BoAmps' quality classes: the largest relative uncertainty (95 %) each admits.
QUALITY_BOUNDS: tuple[tuple[float, str], ...] = ((0.10, "high"), (0.25, "medium"))
_NAMESPACE = uuid.UUID("5b0e4e0c-1f4d-4b8e-9a53-efb1ab000024")  # efflab BoAmps report ids


def _codecarbon_boamps() -> Any:
    try:
        from codecarbon.output_methods import boamps
    except ImportError as e:
        msg = (
            "BoAmps export needs CodeCarbon's BoAmps data model (CodeCarbon >= 3.2.6); "
            "upgrade it with `pip install -U codecarbon`"
        )
        raise ConfigError(msg) from e
    return boamps


def _boamps_datetime(text: Any) -> str | None:
    """``2026-12-03T13:09:23+00:00`` -> ``2026-12-03 13:09:23`` (BoAmps' format, UTC as stored)."""
    if not text:
        return None
    s = str(text)
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        return s.replace("T", " ")[:19]
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def relative_uncertainty(row: Any) -> float | None:
    """The 95 % relative uncertainty of the point's energy: its re-run interval combined with its
    basis' systematic uncertainty, in quadrature."""
    e = number(row, "energy_j_per_query")
    if not e:
        return None
    return math.hypot(statistical_half_j(row) or 0.0, systematic_half_j(row)) / e


def quality(row: Any) -> str:
    """BoAmps' ``quality`` (``high``, ``medium`` or ``low``) of the point's energy figure."""
    u = relative_uncertainty(row)
    if u is None:
        return "low"
    for bound, name in QUALITY_BOUNDS:
        if u <= bound:
            return name
    return "low"


def _model_kind(row: Any) -> str | None:
    from efflab.models.registry import model_kind

    return model_kind(str(row["model"]))


def _algorithm(bo: Any, row: Any) -> Any:
    kind = _model_kind(row)
    n_params = number(row, "n_params")
    billions = n_params / 1e9 if n_params else None
    precision = str(value(row, "precision") or "") or None
    if kind == "sklearn":
        return bo.BoAmpsAlgorithm(
            algorithm_type="nlp",
            algorithm_name=str(row["model"]),
            framework="scikit-learn",
            parameters_number=billions,
            quantization=precision,
        )
    return bo.BoAmpsAlgorithm(
        algorithm_type="llm" if kind == "causal-lm" else "neural network",
        algorithm_name="transformers",
        foundation_model_name=str(row["model"]),
        parameters_number=billions,
        framework="pytorch",
        framework_version=value(row, "fp_torch_version"),
        quantization=precision,
    )


def _datasets(bo: Any, row: Any) -> list[Any]:
    tokens = number(row, "tokens_per_query")
    batch = number(row, "batch_size")
    if tokens:
        inp = bo.BoAmpsDataset(
            data_usage="input",
            data_type="token",
            data_quantity=tokens,
            shape=f"({int(batch or 1)}, {int(tokens)})",
        )
    else:
        prompt = number(row, "prompt_tokens")
        inp = (
            bo.BoAmpsDataset(data_usage="input", data_type="token", data_quantity=prompt)
            if prompt
            else bo.BoAmpsDataset(data_usage="input", data_type="text", data_quantity=1)
        )
    out = [inp]
    new_tokens = number(row, "max_new_tokens")
    if value(row, "workload") == "generate" and new_tokens:
        out.append(bo.BoAmpsDataset(data_usage="output", data_type="token", data_quantity=new_tokens))
    return out


def _tracking_modes(row: Any) -> tuple[str | None, str | None]:
    """(cpuTrackingMode, gpuTrackingMode) for the point's sensor."""
    source = str(value(row, "energy_source") or "")
    basis = fmt.energy_basis(row)
    if source == "nvml":
        return None, "nvml"
    if source == "rapl":
        return "rapl", None
    if source == "fake":
        return "fake (tests only)", None
    if basis == fmt.MODELLED_USER:
        return "constant (user watts)", None
    if basis != fmt.MEASURED:
        return "constant", None
    return source or None, None


def _utilization(row: Any) -> float | None:
    cpu_s, wall, n = number(row, "cpu_seconds"), number(row, "window_s"), number(row, "fp_cpu_count")
    if cpu_s is None or not wall or not n:
        return None
    u = cpu_s / (wall * n)
    return round(u, 4) if 0 <= u <= 1 else None


def _components(bo: Any, row: Any) -> list[Any]:
    cpu_count, threads = number(row, "fp_cpu_count"), number(row, "fp_threads")
    share = threads / cpu_count if cpu_count and threads and threads <= cpu_count else None
    comps = [
        bo.BoAmpsHardware(
            component_type="cpu",
            component_name=value(row, "fp_cpu_model") or str(row.get("hardware") or "unknown"),
            nb_component=1,
            share=share,
        )
    ]
    gpu = value(row, "fp_gpu_name")
    if gpu and str(value(row, "device") or "").startswith("cuda"):
        comps.append(bo.BoAmpsHardware(component_type="gpu", component_name=str(gpu), nb_component=1))
    return comps


def _os(row: Any) -> str:
    platform = str(value(row, "fp_platform") or "")
    return platform.split("-")[0].lower() or "unknown"


def _description(row: Any) -> str:
    tokens = number(row, "tokens_per_query")
    per_tok = (
        f"; {fmt.wh(number(row, 'wh_per_million_tokens'))} per 1M tokens ({int(tokens)} tokens per query, "
        "padded to seq_len: padding counts)"
        if tokens
        else ""
    )
    acc = number(row, "accuracy")
    acc_text = (
        f"; accuracy {fmt.accuracy(acc, number(row, 'accuracy_ci_low'), number(row, 'accuracy_ci_high'))} "
        f"on {fmt.number(number(row, 'n_eval'))} test texts of {value(row, 'task')}"
        if acc is not None
        else ""
    )
    return (
        f"efflab {__version__} point {value(row, 'key')}: {fmt.config_label(row)} on {value(row, 'device')} "
        f"({value(row, 'hardware')}), seq_len {value(row, 'seq_len')}; {energy_text(row)}{per_tok}{acc_text}."
    )


def boamps_report(row: Any, *, report_datetime: str | None = None) -> dict[str, Any]:
    """One BoAmps report (a JSON-ready dict) for one successful point of the results frame.

    ``report_datetime`` is the publishing time (``YYYY-MM-DD HH:MM:SS``; default now, UTC). The report
    id is derived from the point's key and storage time, so the same point always gets the same id.

    Raises:
        ConfigError: the point failed or has no energy figure, or CodeCarbon is too old.
    """
    if value(row, "status") not in (None, "ok") or number(row, "energy_j") is None:
        msg = (
            f"point {value(row, 'key')!r} has no measured energy ({value(row, 'status')}); "
            "export successful points only"
        )
        raise ConfigError(msg)
    bo = _codecarbon_boamps()
    from codecarbon.output_methods.boamps.mapper import BOAMPS_FORMAT_SPEC_URI, BOAMPS_FORMAT_VERSION

    when = report_datetime or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    rid = uuid.uuid5(_NAMESPACE, f"{value(row, 'key')}|{value(row, 'created_at') or value(row, 'timestamp')}")
    queries = (number(row, "n_batches") or 0) * (number(row, "batch_size") or 0)
    acc = number(row, "accuracy")
    cpu_mode, gpu_mode = _tracking_modes(row)
    generate = value(row, "workload") == "generate"
    report = bo.BoAmpsReport(
        header=bo.BoAmpsHeader(
            format_version=BOAMPS_FORMAT_VERSION,
            format_version_specification_uri=BOAMPS_FORMAT_SPEC_URI,
            report_id=str(rid),
            report_datetime=when,
        ),
        task=bo.BoAmpsTask(
            task_stage="inference",
            task_family="text generation" if generate else "text classification",
            nb_request=float(queries) if queries else None,
            algorithms=[_algorithm(bo, row)],
            dataset=_datasets(bo, row),
            measured_accuracy=acc if acc is not None and 0 <= acc <= 1 else None,
            task_description=_description(row),
        ),
        measures=[
            bo.BoAmpsMeasure(
                measurement_method="efflab",
                version=str(value(row, "fp_efflab_version") or __version__),
                cpu_tracking_mode=cpu_mode,
                gpu_tracking_mode=gpu_mode,
                average_utilization_cpu=_utilization(row),
                power_consumption=float(row["energy_j"]) / 3.6e6,  # kWh
                measurement_duration=number(row, "window_s"),
                measurement_date_time=_boamps_datetime(value(row, "timestamp") or value(row, "created_at")),
            )
        ],
        system=bo.BoAmpsSystem(os=_os(row)),
        software=bo.BoAmpsSoftware(language="python", version=value(row, "fp_python_version")),
        infrastructure=bo.BoAmpsInfrastructure(infra_type="other", components=_components(bo, row)),
        environment=bo.BoAmpsEnvironment(
            country=str(value(row, "country") or "unknown"),
            power_source_carbon_intensity=number(row, "carbon_intensity_g_per_kwh"),
        ),
        quality=quality(row),
    )
    d: dict[str, Any] = report.to_dict()
    return _finite(d)


def _finite(v: Any) -> Any:
    # JSON has no NaN; a value that is not known is left out, never written as a number.
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items() if not (isinstance(x, float) and not math.isfinite(x))}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def boamps_reports(
    frame: pd.DataFrame, *, model: str | None = None, report_datetime: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The BoAmps reports of the eligible points of ``frame`` (``load_results``), oldest first, and
    how many points were left out (failed, no energy, unstable or disturbed: the one eligibility rule,
    :func:`efflab.analysis.eligibility.exclusion_reason`). ``model`` keeps that model's points only.

    Raises:
        ModelError: ``model`` has no point in ``frame``.
    """
    df = frame
    if model is not None:
        df = only_model(frame, model)
    keep = [i for i, r in df.iterrows() if exclusion_reason(r) is None]
    left_out = len(df) - len(keep)
    when = report_datetime or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    rows = df.loc[keep]
    if "created_at" in rows.columns:
        rows = rows.sort_values("created_at", kind="stable")
    return [boamps_report(r, report_datetime=when) for _, r in rows.iterrows()], left_out


def only_model(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """The points of ``model`` in ``frame``.

    Raises:
        ModelError: no point of that model (the message lists the stored models).
    """
    from efflab.errors import ModelError, closest

    hit = frame[frame["model"].astype(str) == model] if len(frame) else frame
    if hit.empty:
        names = sorted({str(m) for m in frame["model"].dropna()}) if len(frame) else []
        shown = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        msg = (
            f"model {model!r} has no points in this store; pick one of: {shown}{closest(model, names)}"
            if names
            else f"model {model!r} has no points: the store is empty; run `efflab sweep --model {model}` first"
        )
        raise ModelError(msg)
    return hit
