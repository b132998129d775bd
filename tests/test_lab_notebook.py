"""The lab notebook (committed clean, thin, parameterized), its headless run, and `efflab lab`."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, fast_method

from efflab.cli import main
from efflab.cli.lab import lab_command, lab_root, lab_url, shipped_notebook

NOTEBOOK = ROOT / "notebooks" / "lab.ipynb"


def read_nb(path: Path = NOTEBOOK) -> Any:
    import nbformat

    return nbformat.read(path, as_version=4)


def test_notebook_is_committed_clean_thin_and_parameterized() -> None:
    nb = read_nb()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assert {"store", "family", "task", "tolerance", "sensor", "method"} <= {
        line.split("=")[0].strip() for line in params[0].source.splitlines() if "=" in line
    }
    statements = [ln for c in code for ln in c.source.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(statements) <= 10  # the logic lives in widgets/
    assert "show_lab" in code[-1].source
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # the repository's notebook and the one shipped in the package are the same file
    assert NOTEBOOK.read_bytes() == shipped_notebook().read_bytes()


def test_papermill_sees_the_parameters() -> None:
    import papermill

    names = set(papermill.inspect_notebook(str(NOTEBOOK)))
    assert {"store", "family", "task", "tolerance", "sensor", "method"} <= names


def run_lab_notebook(tmp_path: Path, **params: Any) -> Any:
    """Execute the notebook headless (nbclient) with ``params`` injected into its parameters cell."""
    from nbclient import NotebookClient

    nb = read_nb()
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items()) + "\n"
    work = tmp_path / "notebooks"
    work.mkdir(exist_ok=True)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    return nb


def outputs(nb: Any) -> list[Any]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def widget_texts(nb: Any) -> str:
    """Every HTML widget value in the executed notebook's widget state."""
    state = (
        nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    )
    return "\n".join(
        str(m["state"].get("value", "")) for m in state.values() if m.get("model_name") == "HTMLModel"
    )


@pytest.mark.slow
def test_notebook_runs_headless_with_the_small_store(small_store: Path, tmp_path: Path) -> None:
    nb = run_lab_notebook(tmp_path, store=str(small_store), sensor="fake", method=fast_method().to_dict())
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error" or o.get("name") == "stderr"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    texts = widget_texts(nb)
    assert "This is the recommended configuration" in texts
    assert "tiny-bert-l1" in texts and "tiny-bert-l2" in texts


@pytest.mark.slow
def test_notebook_opens_on_a_missing_store_and_says_what_to_do(tmp_path: Path) -> None:
    nb = run_lab_notebook(tmp_path, store=str(tmp_path / "none.sqlite"))
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error" or "Traceback" in str(o.get("text", ""))]
    texts = widget_texts(nb)
    assert "No results store at" in texts and "efflab sweep" in texts


# ----- efflab lab -----
def test_lab_command_binds_localhost_and_keeps_the_token_off_the_command_line(tmp_path: Path) -> None:
    cmd = lab_command(8899, tmp_path, Path("notebooks/lab.ipynb"))
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=8899" in cmd
    assert "--LabApp.news_url=None" in cmd and "--ServerApp.open_browser=False" in cmd
    assert "--LabApp.default_url=/lab/tree/notebooks/lab.ipynb" in cmd
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)
    assert not [a for a in cmd if "token" in a.lower()]
    assert lab_url(8899, Path("notebooks/lab.ipynb"), "abc") == (
        "http://127.0.0.1:8899/lab/tree/notebooks/lab.ipynb?token=abc"
    )


def test_lab_root_is_the_checkout_or_a_copy_of_the_shipped_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "notebooks" / "lab.ipynb").write_text("{}")
    assert lab_root(checkout) == (checkout.resolve(), Path("notebooks/lab.ipynb"))
    # installed as a package, from a folder without notebooks/: a copy in the efflab cache
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path / "cache"))
    root, nb = lab_root(tmp_path / "elsewhere")
    assert root == (tmp_path / "cache" / "lab").resolve()
    assert (root / nb).read_bytes() == shipped_notebook().read_bytes()
    (root / nb).write_text("my edits")
    assert (lab_root(tmp_path / "elsewhere")[0] / nb).read_text() == "my edits"  # never overwritten


def test_lab_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--port", "0", "--no-browser", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "port must be a number from 1 to 65535" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert main(["lab", "--port", str(busy), "--no-browser", "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert f"port {busy}" in err and "pass another --port" in err and err.count("\n") == 1
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database")
    assert main(["lab", "--store", str(bad), "--no-browser", "--port", "8999"]) == 2
    err = capsys.readouterr().err
    assert "not an efflab results store" in err and "Traceback" not in err
