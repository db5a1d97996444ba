"""The records do not depend on the analytics: `insights` reads `patients`, never the other way
(DESIGN.md). A patient's timeline and its chart live in patients (timeline.py, figures.py)."""

import ast
from pathlib import Path

PATIENTS = Path(__file__).resolve().parent.parent
# What is still read the other way, and why. The patient list orders by triage priority and shows
# her latest readings from the insights' stored per-patient facts (one query for a page of 25).
STILL_READ_FROM_INSIGHTS = {"views.py": {"insights.queries"}}


def insights_imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "insights":
            found |= {node.module} if node.module != "insights" else {f"insights.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "insights"}
    return found


def test_patients_code_imports_nothing_of_insights_but_the_list_s_stored_facts():
    found = {
        str(path.relative_to(PATIENTS)): imports
        for path in PATIENTS.rglob("*.py")
        if "tests" not in path.parts and (imports := insights_imports(path))
    }
    assert found == STILL_READ_FROM_INSIGHTS
