"""Work on a CMS file in a thread while DuckDB parses the same file (its SHA-256, its line count): on two
cores the extra read costs little wall time, and the file is read from the page cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class InThread(Generic[T]):
    """``work(*args)`` in a daemon thread; ``result()`` waits for it and re-raises what it raised."""

    def __init__(self, work: Callable[..., T], *args) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work, args), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[..., T], args: tuple) -> None:
        try:
            self._value = work(*args)
        except BaseException as exc:  # reported by result()
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
