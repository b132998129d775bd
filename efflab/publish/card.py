"""A model card section with the energy facts of one model, for a Hugging Face ``README.md``.

What it says, per cohort (task @ hardware) the model was measured in — all read from the one
assessment (:func:`efflab.analysis.assess.assess`), nothing decided here:

- the efficiency label (an SVG file beside the card, linked from the section);
- every measured configuration: energy per 1000 queries with its 95 % re-run interval, per 1M tokens
  for encoders (padded tokens count), CO2e, the energy's basis (measured / modelled) and source, the
  accuracy with its 95 % interval, and whether it is eligible;
- the hardware, the model's stars, and the cohort's recommended configuration (this model's or
  another model's) with its reason.

The same facts go into the card's YAML metadata under the top-level key ``efflab`` (no official
Hugging Face field claims them). The section sits between two HTML comments (:data:`START`,
:data:`END`); updating a card replaces only that section and the ``efflab`` key, byte for byte
everything else. The ``efflab`` YAML is written with ``huggingface_hub``'s :class:`ModelCardData`, and
the merged card is parsed back with :class:`ModelCard` before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab import __version__
from efflab import format as fmt
from efflab.analysis.assess import AssessInputs, Assessment, assess
from efflab.analysis.uncertainty import number, statistical_half_wh, value
from efflab.errors import ConfigError
from efflab.label import LabelData, label_slug, task_name
from efflab.models.tokens import PADDING_NOTE
from efflab.publish.boamps import only_model

if TYPE_CHECKING:
    import pandas as pd

    from efflab.analysis.stars import ModelRating

START = "<!-- efflab:card:start -->"
END = "<!-- efflab:card:end -->"
METADATA_KEY = "efflab"
METADATA_FORMAT = 1
"""Version of the layout of the ``efflab`` metadata (bumped when a field changes meaning)."""
_EFFLAB_KEY_LINE = re.compile(r"""^(?:efflab|"efflab"|'efflab')[ \t]*:""")


# ----- the facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortCard:
    """One cohort's assessment, seen from one model.

    Attributes:
        model: the model the card is about.
        assessment: the one assessment of the cohort (:func:`efflab.analysis.assess.assess`).
        label_file: the file name of the model's label in this cohort (beside the card); empty when
            the model is unrated (no eligible point).
    """

    model: str
    assessment: Assessment
    label_file: str = ""

    @property
    def cohort(self) -> str:
        return str(self.assessment.cohort)

    @property
    def rows(self) -> pd.DataFrame:
        """The model's configurations in the cohort (newest point each), least energy first, failed last."""
        f = self.assessment.frame
        mine = f[f["model"].astype(str) == self.model]
        return mine.assign(_e=mine["wh_per_1000_queries"].astype(float).fillna(math.inf)).sort_values(
            ["_e", "batch_size", "precision"], kind="stable"
        )

    @property
    def rating(self) -> ModelRating | None:
        return self.assessment.rating(self.model)

    @property
    def recommends_this_model(self) -> bool:
        rec = self.assessment.recommendation
        return rec is not None and rec.point.model == self.model

    @property
    def label_data(self) -> LabelData | None:
        """The label of the model's rated configuration (None when it is unrated)."""
        r = self.rating
        if r is None:
            return None
        ratings = self.assessment.ratings_frame()
        row = ratings[ratings["key"] == r.key].iloc[0]
        return LabelData.from_row(row, n_models=len(self.assessment.ratings))

    @property
    def task(self) -> str:
        return task_name(value(self.rows.iloc[0], "task")) if len(self.rows) else "no task"

    @property
    def hardware(self) -> str:
        return str(value(self.rows.iloc[0], "hardware") or "unknown hardware") if len(self.rows) else ""


@dataclass(frozen=True)
class ModelCardFacts:
    """What a model card section shows: the model and each cohort it was measured in."""

    model: str
    cohorts: tuple[CohortCard, ...]

    @property
    def model_ids(self) -> tuple[str, ...]:
        ids = {str(value(r, "model_id")) for c in self.cohorts for _, r in c.rows.iterrows()}
        return tuple(sorted(ids - {"None"}))


def label_file_name(model: str, task: str, hardware: str, n_cohorts: int) -> str:
    """``efflab-label-<model>.svg``; with the task and hardware in the name when the model has several
    cohorts (a task's name, never its CSV path)."""
    stem = label_slug(model) if n_cohorts == 1 else label_slug(f"{model}-{task}-{hardware}")
    return f"efflab-label-{stem}.svg"


def card_facts(frame: pd.DataFrame, model: str, inputs: AssessInputs | None = None) -> ModelCardFacts:
    """The model's facts in every cohort it has points in (or the one ``inputs.cohort`` names).

    Raises:
        ModelError: the model has no point in the store.
        ConfigError: an unknown cohort, or the model has no point in the cohort named.
    """
    inputs = inputs or AssessInputs()
    only_model(frame, model)  # the model is in the store at all
    first = assess(frame, inputs)
    wanted = (inputs.cohort,) if inputs.cohort else first.cohorts
    cohorts: list[Assessment] = []
    for c in wanted:
        a = first if c == first.cohort else assess(frame, inputs.replace(cohort=c))
        if (a.frame["model"].astype(str) == model).any():
            cohorts.append(a)
    if not cohorts:
        have = sorted({str(c) for c in frame.loc[frame["model"].astype(str) == model, "cohort"]})
        msg = f"model {model!r} has no points in cohort {inputs.cohort!r}; its cohorts: {'; '.join(have)}"
        raise ConfigError(msg)
    out = [CohortCard(model, a) for a in cohorts]
    return ModelCardFacts(
        model,
        tuple(
            dataclasses.replace(c, label_file=label_file_name(model, c.task, c.hardware, len(out)))
            if c.rating is not None
            else c
            for c in out
        ),
    )


# ----- metadata -------------------------------------------------------------------------------------


def _num(x: float | None, digits: int = 4) -> float | None:
    """A float for YAML, to ``digits`` significant digits (a measured figure has no more)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _configuration_metadata(c: CohortCard, r: Any) -> dict[str, Any]:
    rec = c.assessment.recommendation
    rating = c.rating
    ok = value(r, "status") == "ok"
    lo, hi = number(r, "accuracy_ci_low"), number(r, "accuracy_ci_high")
    tokens = number(r, "tokens_per_query")
    d: dict[str, Any] = {
        "key": str(r["key"]),
        "configuration": fmt.config_label(r),
        "batch_size": int(r["batch_size"]),
        "precision": str(r["precision"]),
        "device": str(r["device"]),
        "seq_len": int(r["seq_len"]) if value(r, "seq_len") is not None else None,
        "status": str(r["status"]),
        "eligible": bool(r["eligible"]),
        "excluded_reason": None if bool(r["eligible"]) else str(r["excluded_reason"]),
        "recommended": rec is not None and str(rec.key) == str(r["key"]),
        "rated": rating is not None and rating.key == str(r["key"]),
    }
    if ok:
        d.update(
            {
                "wh_per_1000_queries": _num(number(r, "wh_per_1000_queries")),
                "wh_per_1000_queries_rerun95_half": _num(statistical_half_wh(r)),
                "energy_basis": fmt.energy_basis(r),
                "energy_source": value(r, "energy_source"),
                "energy_systematic_rel": _num(number(r, "energy_uncertainty_rel")),
                "co2e_g_per_1000_queries": _num(number(r, "co2e_g_per_1000_queries")),
                "country": value(r, "country"),
                "carbon_intensity_g_per_kwh": _num(number(r, "carbon_intensity_g_per_kwh")),
                "tokens_per_query": int(tokens) if tokens else None,
                "tokens_padded": True if tokens else None,
                "wh_per_million_tokens": _num(number(r, "wh_per_million_tokens")),
                "co2e_g_per_million_tokens": _num(number(r, "co2e_g_per_million_tokens")),
                "accuracy": _num(number(r, "accuracy")),
                "accuracy_ci95": [_num(lo), _num(hi)] if lo is not None and hi is not None else None,
                "n_eval": int(number(r, "n_eval") or 0) or None,
                "latency_s_per_batch": _num(number(r, "latency_s")),
                "throughput_qps": _num(number(r, "throughput_qps")),
                "measured_at": value(r, "timestamp"),
            }
        )
    return _drop_none(d)


def card_metadata(facts: ModelCardFacts) -> dict[str, Any]:
    """The ``efflab`` metadata of the card (plain types, ready for YAML)."""
    cohorts = []
    for c in facts.cohorts:
        a = c.assessment
        rec = a.recommendation
        rating = c.rating
        first = c.rows.iloc[0]
        cohorts.append(
            _drop_none(
                {
                    "cohort": c.cohort,
                    "task": c.task,
                    "hardware": c.hardware,
                    "cpu": value(first, "fp_cpu_model"),
                    "threads": int(number(first, "fp_threads") or 0) or None,
                    "gpu": value(first, "fp_gpu_name"),
                    "stars": rating.stars if rating is not None else 0,
                    "stars_among_models": len(a.ratings),
                    "stars_energy_basis": rating.energy_basis if rating is not None else None,
                    "rated_configuration": rating.key if rating is not None else None,
                    "recommended": _drop_none(
                        {
                            "key": rec.key,
                            "configuration": rec.label,
                            "model": rec.point.model,
                            "this_model": c.recommends_this_model,
                            "accuracy_tolerance": _num(rec.accuracy_tolerance),
                            "reason": rec.reason,
                        }
                    )
                    if rec is not None
                    else None,
                    "guidance": a.guidance,
                    "label": c.label_file or None,
                    "configurations": [_configuration_metadata(c, r) for _, r in c.rows.iterrows()],
                }
            )
        )
    return {
        "format": METADATA_FORMAT,
        "generator": f"efflab {__version__}",
        "model": facts.model,
        "model_id": list(facts.model_ids),
        "cohorts": cohorts,
    }


# ----- the Markdown section ---------------------------------------------------------------------------


def _cell(text: Any) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _energy_cell(r: Any) -> str:
    half = statistical_half_wh(r)
    return fmt.interval(number(r, "wh_per_1000_queries"), half, fmt.wh)


def _per_token_cell(r: Any) -> str:
    wh, g = number(r, "wh_per_million_tokens"), number(r, "co2e_g_per_million_tokens")
    if wh is None:
        return fmt.MISSING
    return f"{fmt.wh(wh)} · {fmt.si(g, 'g')} CO2e"


def _status_cell(c: CohortCard, r: Any) -> str:
    rec, rating = c.assessment.recommendation, c.rating
    marks = []
    if rec is not None and rec.key == str(r["key"]):
        marks.append("**recommended**")
    if rating is not None and rating.key == str(r["key"]):
        marks.append(f"rated {fmt.stars(rating.stars)}")
    if bool(r["eligible"]):
        marks.insert(0, "eligible")
    else:
        from efflab.analysis.eligibility import exclusion_kind_of

        marks.insert(0, f"not eligible: {exclusion_kind_of(r) or 'excluded'}")
    return " · ".join(marks)


def _config_table(c: CohortCard) -> list[str]:
    headers = [
        "configuration",
        f"energy / 1000 queries ({fmt.RERUN_INTERVAL})",
        "per 1M tokens (energy · CO2e)",
        "CO2e / 1000 queries",
        "energy basis (source)",
        "accuracy (95 % CI)",
        "status",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for _, r in c.rows.iterrows():
        cfg = f"batch {int(r['batch_size'])} · {r['precision']} · {r['device']}"
        if value(r, "status") != "ok":
            cells = [cfg, fmt.MISSING, fmt.MISSING, fmt.MISSING, fmt.MISSING, fmt.MISSING, _status_cell(c, r)]
        else:
            cells = [
                cfg,
                _energy_cell(r),
                _per_token_cell(r),
                f"{fmt.si(number(r, 'co2e_g_per_1000_queries'), 'g')} ({value(r, 'country') or 'grid n/a'})",
                fmt.energy_wording(r),
                fmt.accuracy(
                    number(r, "accuracy"), number(r, "accuracy_ci_low"), number(r, "accuracy_ci_high")
                ),
                _status_cell(c, r),
            ]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return lines


def _hardware_line(c: CohortCard) -> str:
    first = c.rows.iloc[0]
    parts = [f"**Hardware:** {c.hardware}"]
    cpu, threads = value(first, "fp_cpu_model"), number(first, "fp_threads")
    detail = []
    if cpu:
        detail.append(f"CPU {cpu}" + (f", {int(threads)} threads" if threads else ""))
    gpu = value(first, "fp_gpu_name")
    if gpu:
        detail.append(f"GPU {gpu}")
    torch = value(first, "fp_torch_version")
    if torch:
        detail.append(f"torch {torch}")
    if detail:
        parts.append(f"({'; '.join(detail)})")
    return " ".join(parts)


def _rating_line(c: CohortCard) -> str:
    r = c.rating
    if r is None:
        return "**Energy rating:** unrated — no eligible measurement of this model in this cohort."
    basis = "" if r.energy_basis == fmt.MEASURED else f" ({r.energy_basis} energy)"
    n = len(c.assessment.ratings)
    return (
        f"**Energy rating:** {fmt.stars(r.stars)} — {r.stars} of 5 stars among {n} model{'s' if n != 1 else ''} "
        f"on this hardware{basis}, at its least-energy eligible configuration ({r.label}; AI Energy Score rule)."
    )


def _recommendation_line(c: CohortCard) -> str:
    rec = c.assessment.recommendation
    if rec is None:
        return f"**Recommended configuration:** none — {c.assessment.guidance or 'nothing is eligible'}"
    whose = "this model" if c.recommends_this_model else f"another model, {rec.point.model}"
    return f"**Recommended configuration in this cohort** ({whose}): {rec.label} on {rec.point.device}. {rec.reason}"


def card_section(facts: ModelCardFacts) -> str:
    """The Markdown section (between :data:`START` and :data:`END`, both included), ``\\n`` line ends."""
    lines = [
        START,
        "<!-- Written by `efflab card`; `efflab card MODEL --update README.md` replaces everything between "
        "these two markers and the `efflab` metadata key, and nothing else. -->",
        "",
        f"## Energy efficiency of {facts.model} (measured with efflab)",
        "",
    ]
    per_token = modelled = False
    for c in facts.cohorts:
        per_token |= bool(c.rows["tokens_per_query"].notna().any())
        modelled |= any(
            fmt.energy_basis(r) != fmt.MEASURED for _, r in c.rows.iterrows() if value(r, "status") == "ok"
        )
        lines += [f"### {c.task} on {c.hardware}", ""]
        if c.label_file:
            data = c.label_data
            alt = f"efflab energy label of {facts.model}: {data.rating_line if data else 'unrated'}"
            lines += [f"![{alt}]({c.label_file})", ""]
        lines += [
            _rating_line(c),
            "",
            _recommendation_line(c),
            "",
            _hardware_line(c),
            "",
            *_config_table(c),
            "",
        ]
        lines += [f"- {p}" for p in c.assessment.provenance]
        lines.append("")
    if modelled:
        lines += [
            "Energy marked modelled is estimated (CPU time × assumed watts per thread, plus RAM watts), not "
            "read from a hardware counter; its systematic uncertainty is the ± after the source.",
            "",
        ]
    if per_token:
        lines += [f"Energy and CO2e {PADDING_NOTE}.", ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


# ----- the card: merge and check ------------------------------------------------------------------------


def _efflab_key(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {METADATA_KEY: dict(metadata)}


def metadata_yaml(metadata: Mapping[str, Any]) -> str:
    """The ``efflab:`` block of the card's YAML, written by :class:`huggingface_hub.ModelCardData`."""
    from huggingface_hub import ModelCardData

    return str(ModelCardData(**_efflab_key(metadata)).to_yaml())


def _replace_key_block(yaml_text: str, block: str, eol: str) -> str:
    """``yaml_text`` with its top-level ``efflab:`` entry replaced by ``block`` (appended when absent);
    every other line is kept as it is."""
    lines = yaml_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _EFFLAB_KEY_LINE.match(line)]
    block_lines = block.replace("\n", eol)
    if not starts:
        sep = "" if not yaml_text or yaml_text.endswith(("\n", "\r")) else eol
        return yaml_text + sep + block_lines
    i = starts[0]
    j = i + 1
    # The entry runs on while lines are indented, blank, or "- " items (a block sequence may sit at
    # the key's own indentation); trailing blank lines belong to what follows.
    while j < len(lines) and (lines[j][:1] in (" ", "\t", "-") or not lines[j].strip()):
        j += 1
    while j > i + 1 and not lines[j - 1].strip():
        j -= 1
    had_eol = lines[j - 1].endswith(("\n", "\r"))
    return "".join(lines[:i]) + block_lines + (eol if had_eol else "") + "".join(lines[j:])


def _load_yaml_mapping(text: str, where: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        first = " ".join(str(e).split())[:200]
        msg = f"{where}: its metadata block (between the --- lines) is not valid YAML ({first}); fix or remove it"
        raise ConfigError(msg) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"{where}: its metadata block (between the --- lines) is not a YAML mapping; fix or remove it"
        raise ConfigError(msg)
    return data


def new_card(section: str, metadata: Mapping[str, Any], model: str) -> str:
    """A new card: the ``efflab`` metadata, a title and the section."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(**_efflab_key(metadata))
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {model}\n\n{section}")
    return str(card.content)


def merge_card(existing: str, section: str, metadata: Mapping[str, Any], *, where: str = "the card") -> str:
    """``existing`` (a card's text) with efflab's section and metadata key put in or replaced.

    Everything outside the section's markers and the ``efflab`` metadata key is kept byte for byte;
    a card without markers gets the section appended; a card without metadata gets a metadata block.
    The result is parsed back with :class:`huggingface_hub.ModelCard` and checked before it is
    returned.

    Raises:
        ConfigError: broken markers (one without the other, several, or in the wrong order), or a
            metadata block that is not a YAML mapping (the message says what to fix).
    """
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    eol = "\r\n" if "\r\n" in existing else "\n"
    bom = "\ufeff" if existing.startswith("\ufeff") else ""
    text = existing[len(bom) :]
    block = metadata_yaml(metadata)
    m = REGEX_YAML_BLOCK.search(text)
    if m:
        old_yaml = m.group(2)
        old_data = _load_yaml_mapping(old_yaml, where)
        new_yaml = _replace_key_block(old_yaml, block, eol)
        head = text[: m.start(2)] + new_yaml + text[m.end(2) : m.end()]
        body = text[m.end() :]
    else:
        old_data = {}
        head = f"---{eol}{block.replace(chr(10), eol)}{eol}---{eol}"
        body = text
    new_body = _put_section(body, section.replace("\n", eol), eol, where)
    _check(head + new_body, old_data, metadata, new_body, where)
    return bom + head + new_body


def _put_section(body: str, section: str, eol: str, where: str) -> str:
    n_start, n_end = body.count(START), body.count(END)
    if n_start == 0 and n_end == 0:
        if not body:
            return section
        sep = "" if body.endswith(("\n", "\r")) else eol
        return body + sep + eol + section
    s, e = body.find(START), body.find(END)
    if n_start != 1 or n_end != 1 or e < s:
        msg = (
            f"{where} has {n_start} {START} and {n_end} {END} marker(s) (expected one of each, start first); "
            "remove the broken efflab section by hand, then run `efflab card --update` again"
        )
        raise ConfigError(msg)
    tail = body[e + len(END) :]
    # The section ends with its own line break; keep the card's text after the old end marker as it was.
    if tail.startswith(eol):
        tail = tail[len(eol) :]
    elif tail.startswith("\n"):
        tail = tail[1:]
    return body[:s] + section + tail


def _check(out: str, old_data: Mapping[str, Any], metadata: Mapping[str, Any], body: str, where: str) -> None:
    """Parse the merged card back with huggingface_hub: the efflab key reads back as written, the other
    keys as they were, the text after the metadata as put together."""
    import yaml
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(out, ignore_metadata_errors=True)
    except ValueError as e:
        msg = f"{where}: the merged card does not parse as a model card ({e}); it was not written"
        raise ConfigError(msg) from e
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    m = REGEX_YAML_BLOCK.search(out)
    new_data = yaml.safe_load(m.group(2)) if m else {}
    expected = json.loads(json.dumps(dict(metadata)))
    others_old = {k: v for k, v in old_data.items() if k != METADATA_KEY}
    others_new = {k: v for k, v in (new_data or {}).items() if k != METADATA_KEY}
    got = getattr(card.data, METADATA_KEY, None)
    if json.loads(json.dumps(got)) != expected or others_new != others_old or card.text != body:
        msg = (
            f"{where}: efflab could not put its metadata into the card's YAML without touching its other keys "
            "(an unusual layout, e.g. a flow-style mapping); move the `efflab:` key to the end of the block, "
            "one key per line, and run again; nothing was written"
        )
        raise ConfigError(msg)


# ----- files ----------------------------------------------------------------------------------------------

MARKDOWN_SUFFIXES = (".md", ".markdown")


def check_card_path(path: Path, flag: str, *, must_exist: bool) -> None:
    """Refuse a card path that is not a Markdown file (``README.md``), before anything is read or written.

    Raises:
        ConfigError: a folder, not ``.md``, in a folder that does not exist, missing (``must_exist``) or
            not a regular file.
    """
    if path.is_dir():
        msg = f"{flag} {str(path)!r} is a folder; pass the card's file, such as {str(path / 'README.md')!r}"
        raise ConfigError(msg)
    if path.suffix.lower() not in MARKDOWN_SUFFIXES:
        msg = f"{flag} {str(path)!r} is not a Markdown file (.md); a model card is the repository's README.md"
        raise ConfigError(msg)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        msg = (
            f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist; create it or pass another path"
        )
        raise ConfigError(msg)
    if must_exist and not path.exists():
        msg = f"{flag} {str(path)!r} does not exist; pass --out {path} to write a new card"
        raise ConfigError(msg)
    if path.exists() and not path.is_file():
        msg = f"{flag} {str(path)!r} is not a regular file; pass the path of a README.md"
        raise ConfigError(msg)


def read_card(path: Path, flag: str = "--update") -> str:
    """The text of an existing card, checked to be Markdown (UTF-8 text, not JSON, HTML or binary).

    Raises:
        ConfigError: unreadable, binary, not UTF-8, a JSON document or an HTML page.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        msg = f"cannot read {flag} {str(path)!r}: {e.strerror or e}; check the path and its permissions"
        raise ConfigError(msg) from e
    if b"\x00" in raw:
        msg = f"{flag} {str(path)!r} is not Markdown: it is a binary file; pass the model card's README.md"
        raise ConfigError(msg)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        msg = f"{flag} {str(path)!r} is not Markdown: it is not UTF-8 text (byte {e.start}); save it as UTF-8"
        raise ConfigError(msg) from e
    head = text.lstrip("\ufeff \t\r\n")
    if head[:1] in ("{", "["):
        try:
            json.loads(head)
        except ValueError:
            pass
        else:
            msg = f"{flag} {str(path)!r} is not Markdown: it is a JSON document; pass the model card's README.md"
            raise ConfigError(msg)
    if head[:15].lower().startswith(("<!doctype html", "<html")):
        msg = f"{flag} {str(path)!r} is not Markdown: it is an HTML page; pass the model card's README.md"
        raise ConfigError(msg)
    return text


def write_files(items: list[tuple[Path, bytes, str]]) -> None:
    """Write every ``(path, content, what)`` through a temporary file in its folder, then rename them
    all, the first one last (the card after the label it links): a failure before the renames leaves
    every target as it was. An existing file keeps its mode; a symbolic link keeps pointing where it did
    (its target is written). ``what`` names the file in errors (``--update``, ``the label``).

    Raises:
        ConfigError: a target is a folder or not a regular file, or its folder cannot be written.
    """
    import os
    import tempfile

    for path, _, what in items:
        if path.exists() and not path.is_file():
            msg = f"cannot write {what} {str(path)!r}: it is a folder or not a regular file; move it away"
            raise ConfigError(msg)
    staged: list[tuple[str, Path, str]] = []
    try:
        for path, content, what in items:
            target = path.resolve() if path.is_symlink() else path
            folder = target.parent if str(target.parent) else Path(".")
            try:
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".efflab-card-")
            except OSError as e:
                msg = (
                    f"cannot write {what} {str(path)!r}: {e.strerror or e} (in folder {str(folder)!r}); pass a "
                    "path in a writable folder"
                )
                raise ConfigError(msg) from e
            staged.append((tmp, target, what))
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
                os.chmod(tmp, mode)
            except OSError as e:
                msg = f"cannot write {what} {str(path)!r}: {e.strerror or e}; free some space or pass another path"
                raise ConfigError(msg) from e
        for tmp, target, what in reversed(staged):
            try:
                os.replace(tmp, target)
            except OSError as e:
                msg = f"cannot write {what} {str(target)!r}: {e.strerror or e}; pass a writable path"
                raise ConfigError(msg) from e
    finally:
        for tmp, _, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
