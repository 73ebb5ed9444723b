"""Configuration in one place: pipeline/settings.py alone reads the environment, every variable and default is
written there once, and the README documents exactly those variables."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import dagster as dg
import pytest

from pipeline.settings import DUCKDB_STORAGE_VERSION, REPO_ROOT, VARIABLES, Settings, SettingsError

PIPELINE = REPO_ROOT / "pipeline"
SETTINGS = PIPELINE / "settings.py"
# Dagster wiring builds the resources from Settings.from_env(); domain code is handed its values.
WIRING = {PIPELINE / "definitions.py", *PIPELINE.glob("defs/**/*.py")}


def _modules() -> list[Path]:
    return sorted(p for p in PIPELINE.rglob("*.py") if p != SETTINGS)


def _reads_environment(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb", "putenv"}:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"line {node.lineno}: from os import {a.name}" for a in node.names if "env" in a.name]
    return found


def test_only_the_settings_module_reads_the_environment():
    readers = {
        str(p.relative_to(REPO_ROOT)): r for p in _modules() if (r := _reads_environment(ast.parse(p.read_text())))
    }
    assert not readers, f"read it in pipeline/settings.py (Settings) and pass the value in: {readers}"


def test_domain_code_takes_settings_as_arguments():
    """Outside the Dagster wiring nothing calls ``*.from_env()``: values come in as arguments."""
    callers = {}
    for path in _modules():
        if path in WIRING:
            continue
        calls = [
            node.lineno
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute) and node.attr == "from_env"
        ]
        if calls:
            callers[str(path.relative_to(REPO_ROOT))] = calls
    assert not callers, callers


def test_every_variable_is_a_settings_field_and_every_field_a_variable():
    own = {"dagster_home", "set_variables"}
    assert {f.name for f in fields(Settings)} - own == {v.field for v in VARIABLES}
    assert all(v.name.startswith("CPT_") for v in VARIABLES)
    assert Settings.from_env({}) == Settings.defaults()


def _readme_variables() -> dict[str, str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `(CPT_\w+)` \| `?([^`|]+?)`? \|", text, flags=re.MULTILINE))


def test_the_readme_documents_exactly_the_settings_variables_and_their_defaults():
    documented = _readme_variables()
    assert documented == {v.name: v.documented_default for v in VARIABLES}


def test_each_default_is_written_once():
    """The storage version and the memory limit's default appear in pipeline/ only in settings.py."""
    literals = {DUCKDB_STORAGE_VERSION, *(str(v.default) for v in VARIABLES if v.kind in ("memory", "path"))}
    repeated = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in literals:
                repeated.setdefault(str(path.relative_to(REPO_ROOT)), []).append(node.value)
    assert not repeated, repeated


def test_a_resource_field_fed_by_a_set_variable_names_it_for_the_ui():
    """A variable that is set feeds its field as ``dg.EnvVar`` (the UI shows the name; the run reads the value);
    an unset one gives its default, since an ``EnvVar`` of an unset variable fails the run."""
    from pipeline.defs.resources import resources_from

    resources = resources_from(Settings.from_env({"CPT_DOCUMENTS_DIR": "/data/docs", "CPT_PUBLISH_COMPACT_EVERY": "3"}))
    assert isinstance(resources["sources"].documents_dir, dg.EnvVar)
    assert resources["sources"].documents_dir == "CPT_DOCUMENTS_DIR"
    assert not isinstance(resources["sources"].utilization_dir, dg.EnvVar)
    assert resources["sources"].utilization_dir == str(REPO_ROOT / "sources" / "utilization")
    assert resources["limits"].publish_max_shrink == 0.5


def test_settings_refuse_what_does_not_parse_naming_every_variable():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"CPT_PUBLISH_COMPACT_EVERY": "often", "CPT_LOG_LEVEL": "LOUD"})
    assert len(refused.value.problems) == 2
    assert Settings.from_env({"CPT_ALLOW_SHRINK": "Yes", "CPT_LOG_LEVEL": "debug"}).allow_shrink
    assert Settings.from_env({"CPT_LOG_LEVEL": "debug"}).log_level == "DEBUG"


def _attributes(tree: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_every_limit_and_override_reaches_the_code_that_applies_it():
    """Each field of the ``limits`` and ``overrides`` resources is read by an asset or check (directly, or
    through a property of the resource that bundles fields, such as ``zip_caps``)."""
    from pipeline.defs.resources import LimitsResource, OverridesResource

    resources_py = PIPELINE / "defs" / "resources.py"
    used = set()
    for path in sorted(PIPELINE.glob("defs/**/*.py")):
        if path != resources_py:
            used |= _attributes(ast.parse(path.read_text()))
    for node in ast.walk(ast.parse(resources_py.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name in used:
            used |= _attributes(node)  # a property the wiring reads: the fields it bundles are read too
    fields_ = set(LimitsResource.model_fields) | set(OverridesResource.model_fields)
    assert fields_ - used == set(), "a setting nothing applies"


def test_from_env_gives_plain_values_that_scripts_can_read(monkeypatch, tmp_path):
    """``from_env()`` serves scripts, tests and benchmarks outside a Dagster run, where an ``EnvVar`` field
    cannot be read: it holds the values themselves even when the variable is set."""
    from pipeline.defs.resources import LimitsResource, WarehouseResource

    monkeypatch.setenv("CPT_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("CPT_PUBLISH_COMPACT_EVERY", "3")
    assert WarehouseResource.from_env().working_file == tmp_path / "w.duckdb"
    assert LimitsResource.from_env().publish_compact_every == 3


def test_every_variable_named_in_the_code_is_one_the_settings_read():
    """Messages and resource descriptions name variables as text: a misspelt name would send a user to set a
    variable nothing reads."""
    known = {v.name for v in VARIABLES}
    named = set()
    for path in PIPELINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named.update((path.name, name) for name in re.findall(r"\bCPT_[A-Z_]*[A-Z]\b", node.value))
    unknown = sorted((file, name) for file, name in named if name not in known)
    assert not unknown, f"not a CPT_* variable the settings read: {unknown}"
    assert len({name for _, name in named}) >= 10  # the scan sees the names (it would pass vacuously otherwise)
