"""Run the report notebook with papermill and export it to offline HTML without code.

Output of one report in ``out_dir``::

    report.ipynb     the executed notebook (kept on failure: it holds the traceback)
    report.html      self-contained HTML, no code cells, plotly.js embedded once (no CDN)
    labels/          one efficiency label per model, SVG and PNG

A failed run never leaves a finished-looking ``report.html``: a run starts by removing the previous
one, writes the new HTML to a temporary name and renames it only on success; on failure (or Ctrl-C)
``FAILED.txt`` says what went wrong.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from efflab.errors import ReportError
from efflab.report.params import ReportParams

NOTEBOOK_NAME = "report.ipynb"
HTML_NAME = "report.html"
FAILED_NAME = "FAILED.txt"
LABELS_DIR = "labels"
HIDE_TAG = "report-hide"

# nbconvert's lab template loads require.js, MathJax, mermaid and the widget manager from CDNs; the
# report needs none of them (figures carry plotly.js inline), so these blocks are emptied.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


class ReportRunError(ReportError):
    """The report notebook failed while running (the parameters were valid)."""

    exit_code = 1


def notebook_path() -> Path:
    """The report notebook shipped inside the package (the one source of truth;
    ``notebooks/report.ipynb`` in the repository is a link to it)."""
    return Path(__file__).resolve().parent.parent / "notebooks" / NOTEBOOK_NAME


@dataclass(frozen=True)
class ReportResult:
    """What one successful report wrote, and how long it took (seconds)."""

    out_dir: Path
    notebook: Path
    html: Path
    labels: tuple[Path, ...]
    seconds: float
    title: str


def resolve_params(params: ReportParams, out_dir: Path) -> ReportParams:
    """Absolute store path (the kernel may run elsewhere) and labels next to the report."""
    return params.replace(
        store_path=str(Path(params.store_path).expanduser().resolve()),
        labels_dir=str((out_dir / LABELS_DIR).resolve()),
    )


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """The report folder ``--out`` names, checked before anything runs: a folder, or a path whose
    nearest existing folder can be written (it is created when the report runs).

    Raises:
        ReportError: it is a file (or a device), or it cannot be written, with the fix.
    """
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        msg = f"--out {str(out)!r} is a file, not a folder; pass a folder for the report (it is created)"
        raise ReportError(msg)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        msg = f"--out {str(out)!r}: {str(probe)!r} is a file, not a folder; pass another --out folder"
        raise ReportError(msg)
    if not os.access(probe, os.W_OK | os.X_OK):
        msg = f"--out {str(out)!r} cannot be written ({str(probe)!r} is read-only); pass a writable --out folder"
        raise ReportError(msg)
    return out


def precheck(params: ReportParams) -> None:
    """The checks the notebook's first cell makes against the store, made here before papermill
    starts a kernel, so bad input costs no kernel and measures nothing.

    Raises:
        StoreError: read-only mode and the store is missing or not an efflab store.
        ReportError: a parameter names something the store does not have.
    """
    from efflab.store import load_results

    store = Path(params.store_path).expanduser()
    if params.measure_missing and not store.exists():
        return
    params.check_against(load_results(store))


def export_html(nb: Any, title: str) -> str:
    """HTML of an executed notebook without code cells or prompts, with nothing loaded from a CDN.
    Cells tagged ``report-hide`` and stderr output (warnings) are left out."""
    import copy

    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for c in nb.cells:
        if c.get("cell_type") == "code":
            c["outputs"] = [
                o
                for o in c.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    nb.cells = [
        c
        for c in nb.cells
        if HIDE_TAG not in c.get("metadata", {}).get("tags", [])
        and not (c.get("cell_type") == "code" and not c.get("outputs"))  # e.g. the parameters cells
    ]
    nb.metadata["title"] = title
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"efflab_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="efflab_offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    html, _ = exporter.from_notebook_node(nb)
    return str(html)


def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text or "").strip()
    return text.splitlines()[0] if text else ""


def _fail(out_dir: Path, line: str) -> ReportRunError:
    html = out_dir / HTML_NAME
    if html.exists():
        html.unlink()
    nb = out_dir / NOTEBOOK_NAME
    # run_report removes an earlier run's notebook first, so one that is here is this run's.
    where = (
        f"The executed notebook {nb} holds the traceback.\n"
        if nb.exists()
        else "The notebook did not get far enough to be saved.\n"
    )
    (out_dir / FAILED_NAME).write_text(
        f"This report FAILED; there is no report.html.\n{line}\n{where}", encoding="utf-8"
    )
    return ReportRunError(line)


def run_report(
    params: ReportParams,
    out_dir: str | os.PathLike[str],
    *,
    notebook: str | os.PathLike[str] | None = None,
    kernel_name: str | None = None,
    timeout_s: float | None = None,
) -> ReportResult:
    """Execute the report notebook for ``params`` into ``out_dir`` and export its HTML.

    ``params`` is checked against the store first (:func:`precheck`). ``timeout_s`` limits each
    cell (None: no limit; measuring can take long).

    Raises:
        StoreError, ReportError: bad parameters (nothing was run).
        ReportRunError: the notebook or the export failed; ``out_dir/FAILED.txt`` says why and no
            ``report.html`` is left.
    """
    out = check_out_dir(out_dir)
    params = resolve_params(params, out)
    precheck(params)  # bad parameters are refused before anything is made or run
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # Outputs of an earlier run are stale from here on: none may pass for this run's.
    (out / FAILED_NAME).unlink(missing_ok=True)
    (out / HTML_NAME).unlink(missing_ok=True)
    (out / NOTEBOOK_NAME).unlink(missing_ok=True)
    labels = Path(params.labels_dir)
    for old in labels.glob("label-*") if labels.is_dir() else ():
        old.unlink()
    nb_out = out / NOTEBOOK_NAME
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError
    except ImportError as e:
        msg = "efflab report needs papermill and nbconvert: pip install 'efflab[lab]'"
        raise ReportError(msg) from e
    try:
        executed = pm.execute_notebook(
            str(notebook or notebook_path()),
            str(nb_out),
            parameters=params.to_dict(),
            kernel_name=kernel_name,
            progress_bar=False,
            request_save_on_cell_execute=False,
            execution_timeout=timeout_s,
            cwd=str(out),
            # ipykernel warns on stderr about its local TCP transport; users need not see it
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as e:
        where = f"cell {e.exec_count}" if e.exec_count else "a cell"
        raise _fail(out, f"report notebook failed in {where}: {e.ename}: {_first_line(e.evalue)}") from e
    except KeyboardInterrupt:
        _fail(out, "interrupted before the report was finished")
        raise
    except Exception as e:  # kernel died, timeout, missing kernel: one line for the user
        raise _fail(out, f"report notebook could not run: {type(e).__name__}: {_first_line(str(e))}") from e
    try:
        html = export_html(executed, params.title)
    except Exception as e:  # nbconvert/jinja errors
        raise _fail(out, f"report HTML export failed: {type(e).__name__}: {_first_line(str(e))}") from e
    tmp = out / f".{HTML_NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out / HTML_NAME)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _fail(out, f"cannot write {out / HTML_NAME}: {e.strerror}") from e
    files = tuple(sorted(labels.glob("label-*"))) if labels.is_dir() else ()
    return ReportResult(out, nb_out, out / HTML_NAME, files, time.monotonic() - t0, params.title)
