"""The package is sliced by domain: nothing that belongs to a domain sits at its root, the pure core stays pure,
and Dagster is imported only by the wiring in ``pipeline/defs/``."""

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"

# The root holds the code location, the one settings module and the failure classes every domain raises.
ROOT_MODULES = {"__init__.py", "definitions.py", "settings.py", "failures.py"}
DOMAINS = {
    "core": "pure parsing and normalizers (no Dagster, DuckDB or pandas)",
    "contracts": "one pandera model per table, and what is derived from them",
    "documents": "the documents folder, its load and the parse cache",
    "inputs": "listing source folders and telling what changed in them",
    "utilization": "reading CMS utilization files",
    "medicare_policy": "reading CMS payment policy files: fee schedules, NCCI edits, HCPCS Level II; one module per layout",
    "validation": "moving rows that break a contract to the reject tables",
    "warehouse": "tables, transactions and the change log of the working file",
    "marts": "mart SQL and its build",
    "publishing": "the publish plan, the BI snapshot and its guard",
    "bi": "what BI tools are handed: the Superset dashboard bundle and its cache refresh after a publish",
    "defs": "Dagster wiring: assets, checks, jobs, schedules, sensors, resources, the CLI",
}
PURE_FORBIDDEN = {"dagster", "duckdb", "pandas", "pandera", "numpy"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_root_holds_no_domain_module():
    modules = {p.name for p in PIPELINE.glob("*.py")}
    assert modules == ROOT_MODULES, f"move {sorted(modules - ROOT_MODULES)} into its domain's folder"


def test_every_folder_is_a_known_domain():
    folders = {p.name for p in PIPELINE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(DOMAINS), f"unknown: {sorted(folders - set(DOMAINS))}, gone: {sorted(set(DOMAINS) - folders)}"


@pytest.mark.parametrize("module", sorted(PIPELINE.glob("core/*.py")), ids=lambda p: p.name)
def test_the_core_is_pure(module):
    top_level = {name.split(".")[0] for name in _imports(module)}
    assert not top_level & PURE_FORBIDDEN, f"{module.name} imports {sorted(top_level & PURE_FORBIDDEN)}"
    assert not {n for n in _imports(module) if n.startswith("pipeline.") and not n.startswith("pipeline.core")}


@pytest.mark.parametrize(
    "module",
    sorted(p for p in PIPELINE.rglob("*.py") if "defs" not in p.parts and p.name != "definitions.py"),
    ids=lambda p: str(p.relative_to(PIPELINE)),
)
def test_only_the_wiring_imports_dagster(module):
    """Domain code is callable without Dagster (tests, benchmarks, the fidelity report); Dagster lives in defs/."""
    assert "dagster" not in {name.split(".")[0] for name in _imports(module)}


@pytest.mark.parametrize(
    "module",
    sorted(p for p in PIPELINE.rglob("*.py") if "defs" not in p.parts and p.name != "definitions.py"),
    ids=lambda p: str(p.relative_to(PIPELINE)),
)
def test_no_domain_imports_the_wiring(module):
    assert not {n for n in _imports(module) if n.startswith("pipeline.defs")}
