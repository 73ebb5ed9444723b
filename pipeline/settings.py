"""Where things live. Every path has a default under the repo and an environment override."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ENV_DEFAULTS = {
    "CPT_DOCUMENTS_DIR": "sources/documents",
    "CPT_UTILIZATION_DIR": "sources/utilization",
    "CPT_REFERENCE_DIR": "sources/reference",
    "CPT_WAREHOUSE_PATH": "warehouse/cpt.duckdb",
    "CPT_SERVING_PATH": "warehouse/serving/cpt_analytics.duckdb",
}


def env_path(name: str) -> Path:
    """Resolve an env var (or its default) to an absolute path; relative paths are from the repo root."""
    value = os.environ.get(name) or ENV_DEFAULTS[name]
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


ALLOW_SHRINK_ENV = "CPT_ALLOW_SHRINK"


def allow_shrink_from_env() -> bool:
    """The one reading of the shrink override, shared by the loaders and the publish guard."""
    return os.environ.get(ALLOW_SHRINK_ENV, "").strip().lower() in {"1", "true", "yes"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


@dataclass(frozen=True)
class Paths:
    documents_dir: Path
    utilization_dir: Path
    reference_dir: Path
    warehouse_path: Path
    serving_path: Path

    @classmethod
    def from_env(cls) -> Paths:
        return cls(
            documents_dir=env_path("CPT_DOCUMENTS_DIR"),
            utilization_dir=env_path("CPT_UTILIZATION_DIR"),
            reference_dir=env_path("CPT_REFERENCE_DIR"),
            warehouse_path=env_path("CPT_WAREHOUSE_PATH"),
            serving_path=env_path("CPT_SERVING_PATH"),
        )
