"""Parameterized efficiency reports: papermill runs ``efflab/notebooks/report.ipynb`` and nbconvert
exports it to offline HTML without code.

- :mod:`efflab.report.params`: :class:`ReportParams`, the one parameter type of the CLI, papermill
  and YAML;
- :mod:`efflab.report.content`: what the notebook shows (the notebook only calls it);
- :mod:`efflab.report.run`: one report (papermill + nbconvert, failure handling);
- :mod:`efflab.report.batch`: a YAML list of parameter sets -> reports and an ``index.html``.

Importing this package loads neither papermill, nbconvert nor plotly.
"""

from efflab.report.params import ReportParams
from efflab.report.run import ReportResult, ReportRunError, notebook_path, run_report

__all__ = ["ReportParams", "ReportResult", "ReportRunError", "notebook_path", "run_report"]
