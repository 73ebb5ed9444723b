"""Parse time grows linearly with input size, on inputs built to make careless parsers quadratic.

The check compares the time for 10x the input with the time for 1x (a ratio, not a wall-clock limit):
a quadratic step would make the ratio about 100; linear work gives about 10.

The cyclic garbage collector is paused while a parse is timed: its full collections walk every object the test
process holds (pytest, hypothesis, pandas: several hundred thousand), so how often one lands inside the one timed
parse of the large input, not the parser's own work, decided the ratio (two inputs measured 0.33 s alone and
0.86 s under pytest).
"""

from __future__ import annotations

import gc
import time

import pytest

from pipeline.core.document_parser import parse_document
from tests.synthetic.documents import adversarial_documents

SMALL, LARGE = 100_000, 1_000_000
MAX_RATIO = 25


def _seconds(data: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            parse_document(data)
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best


@pytest.mark.parametrize("kind", sorted(adversarial_documents(1000)))
def test_parse_time_is_linear_in_size(kind):
    small, large = adversarial_documents(SMALL)[kind], adversarial_documents(LARGE)[kind]
    assert len(large) > 8 * len(small)
    small_seconds = max(_seconds(small, repeat=3), 0.01)  # below 10 ms, scheduler noise swamps the ratio
    large_seconds = _seconds(large, repeat=1)
    assert large_seconds / small_seconds < MAX_RATIO, (kind, small_seconds, large_seconds)
