"""The bundled sample documents give exactly the facts recorded in ``sample_facts.json``.

The file was written by ``make_sample_facts.py`` with the parser as it was before the real-world
input work (issue 7); a change in any fact of a sample is a regression, not a new expectation.
"""

from __future__ import annotations

import json

import pytest

from pipeline.core.document_parser import parse_document
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import load_reference_data
from tests.conftest import REFERENCE
from tests.core.make_sample_facts import FACTS_FILE, sample_facts

RECORDED = json.loads(FACTS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def known_names():
    return KnownNames.from_reference(load_reference_data(REFERENCE))


def test_every_sample_is_recorded():
    assert set(sample_facts()) == set(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_sample_facts_unchanged_without_reference(name):
    assert sample_facts()[name] == RECORDED[name]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_sample_facts_unchanged_with_known_names(name, known_names):
    facts = sample_facts(lambda data: parse_document(data, known_names=known_names))
    assert facts[name] == RECORDED[name]
