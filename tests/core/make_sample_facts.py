"""Dump the parser's facts for the bundled sample documents to ``sample_facts.json``.

    uv run python -m tests.core.make_sample_facts

Run once before a parser change (the file is the "before" picture); ``test_sample_facts.py`` then
requires the parser to give exactly these facts.  Sections are left out on purpose: the parser may
keep the text differently, but not change what it reads from it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.document_parser import parse_document, to_json_dict

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sources" / "documents"
FACTS_FILE = Path(__file__).with_name("sample_facts.json")


def sample_facts(parse=parse_document) -> dict[str, dict]:
    facts = {}
    for path in sorted(SAMPLES.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            data = to_json_dict(parse(path.read_bytes()))
            data.pop("sections")
            # Each sample describes one code: its block must be the top-level facts, which are recorded (the
            # cached form then lists no further block and says the first is the top-level one: codes_from 1).
            codes, codes_from = data.pop("codes"), data.pop("codes_from")
            assert (codes_from, codes) == (1, []), f"{path.name}: code blocks {codes} besides the document's facts"
            facts[path.name] = data
    return facts


def main() -> None:
    FACTS_FILE.write_text(json.dumps(sample_facts(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {FACTS_FILE}")


if __name__ == "__main__":
    main()
