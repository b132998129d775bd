"""Batch mode: a YAML list of parameter sets -> one report per set in its own folder, and an
``index.html`` linking them.

Every set is validated (types, names, and against its store) before the first report runs, so a
typo in the last set costs no measurement. A report that fails does not stop the others; the index
marks it FAILED and links its ``FAILED.txt`` instead of an HTML report.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from efflab.errors import EfflabError, ReportError
from efflab.report.params import ReportParams
from efflab.report.run import FAILED_NAME, HTML_NAME, ReportResult, ReportRunError, precheck, run_report

INDEX_NAME = "index.html"
NAME_KEY = "name"  # optional key of a batch entry: its folder name (not a report parameter)


@dataclass(frozen=True)
class BatchJob:
    """One report of a batch: its folder name and validated parameters."""

    name: str
    params: ReportParams


@dataclass(frozen=True)
class BatchEntry:
    """How one report of a batch went."""

    job: BatchJob
    result: ReportResult | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.result is not None


def load_param_sets(path: str | os.PathLike[str]) -> list[dict[str, Any]] | dict[str, Any]:
    """Parameter sets from a YAML file: a list of mappings (batch mode, even of one) or one
    mapping (one report).

    Raises:
        ReportError: unreadable file, invalid YAML, or entries that are not mappings.
    """
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        msg = f"parameter file {str(p)!r} is not a text file (not UTF-8); write it as YAML NAME: VALUE lines"
        raise ReportError(msg) from e
    except OSError as e:
        msg = f"cannot read parameter file {str(p)!r}: {e.strerror}; check the path"
        raise ReportError(msg) from e
    if "\x00" in text:
        msg = f"parameter file {str(p)!r} is not a text file (it holds NUL bytes); write it as YAML"
        raise ReportError(msg)
    try:
        data = yaml.safe_load(text)
    except RecursionError as e:
        msg = f"parameter file {str(p)!r} is nested too deeply to be report parameters"
        raise ReportError(msg) from e
    except yaml.YAMLError as e:
        msg = f"parameter file {str(p)!r} is not valid YAML: {str(e).splitlines()[0]}"
        raise ReportError(msg) from e
    if isinstance(data, dict):
        return data
    sets = data
    if not isinstance(sets, list) or not sets:
        msg = f"parameter file {str(p)!r} must hold a mapping of NAME: VALUE or a non-empty list of them"
        raise ReportError(msg)
    for i, s in enumerate(sets, 1):
        if not isinstance(s, dict):
            msg = f"entry {i} of {str(p)!r} must be a mapping of NAME: VALUE, got {type(s).__name__}"
            raise ReportError(msg)
    return sets


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip().lower()).strip("-.")[:60]


def plan_batch(base: dict[str, Any], sets: list[dict[str, Any]]) -> list[BatchJob]:
    """Validate every set (``base`` overridden by the set) and give each a unique folder name:
    its ``name`` key, else its title as a slug, else ``report-N``.

    Raises:
        ReportError, StoreError: the first bad set, named by its position.
    """
    jobs: list[BatchJob] = []
    used: set[str] = set()
    for i, s in enumerate(sets, 1):
        s = dict(s)
        raw_name = s.pop(NAME_KEY, None)
        try:
            params = ReportParams.from_dict({**base, **s})
            precheck(params)
        except EfflabError as e:
            raise ReportError(f"parameter set {i}: {e}") from e
        if raw_name is not None and (not isinstance(raw_name, str) or not _slug(raw_name)):
            msg = f"parameter set {i}: name must be text usable as a folder name, got {raw_name!r}"
            raise ReportError(msg)
        name = _slug(raw_name) if raw_name else (_slug(s["title"]) if "title" in s else "") or f"report-{i}"
        if name in used:
            if raw_name:
                msg = f"parameter set {i}: name {raw_name!r} is used twice; give each set its own name"
                raise ReportError(msg)
            name = f"{name}-{i}"
        used.add(name)
        jobs.append(BatchJob(name, params))
    return jobs


def run_batch(
    jobs: list[BatchJob], out_dir: str | os.PathLike[str], **run_kwargs: Any
) -> tuple[Path, list[BatchEntry]]:
    """Run each job into ``out_dir/<name>/`` and write ``out_dir/index.html``; returns the index path
    and how each report went. Failed reports are recorded, not raised."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    entries: list[BatchEntry] = []
    for job in jobs:
        try:
            res = run_report(job.params, out / job.name, **run_kwargs)
        except ReportRunError as e:
            entries.append(BatchEntry(job, None, str(e)))
        else:
            entries.append(BatchEntry(job, res, None))
        write_index(out, entries, pending=jobs[len(entries) :])
    return out / INDEX_NAME, entries


def write_index(out_dir: Path, entries: list[BatchEntry], pending: list[BatchJob] | None = None) -> Path:
    """A self-contained ``index.html`` (no scripts) linking each report, with its labels."""
    rows = []
    for e in entries:
        name = escape(e.job.name)
        title = escape(e.job.params.title)
        if e.result is not None:
            link = f'<a href="{name}/{HTML_NAME}">{title}</a>'
            status = f"ok ({e.result.seconds:.0f} s)"
            labels = "".join(
                f'<img src="{name}/labels/{escape(p.name)}" alt="{escape(p.stem)}" height="110">'
                for p in e.result.labels
                if p.suffix == ".svg"
            )
        else:
            link = f'{title} (<a href="{name}/{FAILED_NAME}">why</a>)'
            status = f'<b style="color:#b00">FAILED</b>: {escape(e.error or "")}'
            labels = ""
        rows.append(
            f"<tr><td>{link}</td><td><code>{name}/</code></td><td>{status}</td><td>{labels}</td></tr>"
        )
    for j in pending or []:
        rows.append(
            f"<tr><td>{escape(j.params.title)}</td><td><code>{escape(j.name)}/</code></td><td>not run yet</td><td></td></tr>"
        )
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>efflab reports</title>
<style>body{{font-family:DejaVu Sans,Arial,sans-serif;margin:2em;}} table{{border-collapse:collapse;}}
td,th{{border:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top;}} th{{background:#f3f3f3;}}
img{{margin-right:6px;}}</style></head>
<body><h1>efflab reports</h1><p>{len(entries)} report(s), written {now}.</p>
<table><thead><tr><th>report</th><th>folder</th><th>status</th><th>labels</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></body></html>
"""
    tmp = out_dir / f".{INDEX_NAME}.{os.getpid()}.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out_dir / INDEX_NAME)
    return out_dir / INDEX_NAME
