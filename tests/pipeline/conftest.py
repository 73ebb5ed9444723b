"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import automation


@pytest.fixture
def hashed(monkeypatch) -> list[Path]:
    """Every file the sensor reads to hash it."""
    seen: list[Path] = []
    real = automation.sha256_file

    def counting(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(automation, "sha256_file", counting)
    return seen
