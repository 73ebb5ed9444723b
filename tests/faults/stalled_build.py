"""Run the main command with one pipeline function stalled, so a test can SIGKILL the run at a known phase.

Usage: python -m tests.faults.stalled_build PHASE MARKER_FILE
The stalled function first creates MARKER_FILE, then blocks until the process is killed.
Test-only: production code carries no pause hooks.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

PHASES = {
    "parse": ("pipeline.documents.workers", "parse_any_document"),  # while documents are parsed
    "load": ("pipeline.documents.load", "gate_table"),  # inside the core transaction
    "publish": ("pipeline.publishing.snapshot", "replace_serving_file"),  # new file written, not yet renamed
}


def stall(module_name: str, function_name: str, marker: Path) -> None:
    module = importlib.import_module(module_name)
    original = getattr(module, function_name)

    def stalled(*args, **kwargs):
        marker.write_text(function_name)
        threading.Event().wait()  # until SIGKILL
        return original(*args, **kwargs)

    setattr(module, function_name, stalled)


if __name__ == "__main__":
    phase, marker = sys.argv[1], Path(sys.argv[2])
    stall(*PHASES[phase], marker)
    from pipeline.defs.cli import main

    raise SystemExit(main(["build"]))
