"""The code-format patterns, pinned by examples from the published code sets (and their near misses)."""

from __future__ import annotations

import re

import pytest

from pipeline.core.domains import CPT_CODE, CPT_OR_HCPCS, HCPCS_CODE, MODIFIER_CODE, POS_CODE

VALID = {
    CPT_CODE: ["32994", "0001A", "3008F", "0042T", "0002M", "0001U"],
    HCPCS_CODE: ["C9751", "J0585", "G0121"],
    CPT_OR_HCPCS: ["32994", "0042T", "C9751", "J0585"],
    MODIFIER_CODE: ["50", "RT", "XS", "26"],
    POS_CODE: ["11", "22", "24"],
}
INVALID = {
    CPT_CODE: ["3299", "329944", "0042X", "C9751", "32994\n", " 32994", "0042t"],
    HCPCS_CODE: ["A123", "A12345", "9751C", "c9751", "CC751", "C9751\n"],
    CPT_OR_HCPCS: ["A123", "3299", "329944", "0042X", "c9751", "AB123", "32994 "],
    MODIFIER_CODE: ["5", "RTX", "rt", "-5"],
    POS_CODE: ["1", "111", "A1"],
}


@pytest.mark.parametrize("pattern, value", [(p, v) for p, values in VALID.items() for v in values])
def test_real_codes_match(pattern, value):
    assert re.fullmatch(pattern.strip("^$"), value)


@pytest.mark.parametrize("pattern, value", [(p, v) for p, values in INVALID.items() for v in values])
def test_near_misses_do_not_match(pattern, value):
    assert not re.fullmatch(pattern.strip("^$"), value)
