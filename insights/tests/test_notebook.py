"""notebooks/analysis.ipynb runs from top to bottom against demo data: a failing cell fails CI."""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from patients import clinical

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"


def test_the_analysis_notebook_runs_every_cell(tmp_path, monkeypatch):
    # The kernel is its own process, so it cannot see the test database: give it a demo database.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'notebook.sqlite3'}")
    monkeypatch.setenv("DEBUG", "1")
    for command in (["migrate", "--no-input"], ["seed_demo", "--patients", "400"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, capture_output=True)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    figures = [output for output in outputs if "application/vnd.plotly.v1+json" in output.get("data", {})]
    assert len(figures) >= 10  # every analysis drew its charts
    printed = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "400 patients" in printed
    assert re.search(r"\d+ urgent patients with blood pressure 140/90 or above or hypertension written", printed)
    titles = [figure["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"] for figure in figures]
    for title in ("by triage priority", "Hypertension prevalence by district", "Risk factors by district"):
        assert [text for text in titles if title in text], title
    # What an analyst reads is in words: printed text, tables and the charts' legends and axes.
    shown = printed + "".join(
        output["data"].get("text/html", "") + json.dumps(output["data"].get("application/vnd.plotly.v1+json", {}))
        for output in outputs
        if output.output_type in ("execute_result", "display_data")
    )
    codes = "|".join([*clinical.REASON_CODES, *clinical.RISK_FACTOR_CODES, clinical.DISTRICT_SD, clinical.VISIT_JUMP])
    assert not re.findall(rf'(?<!\w)(?:{codes}|n_[a-z]\w*|bp_systolic|haemoglobin_g_dl)(?!\w)(?!": )', shown)
