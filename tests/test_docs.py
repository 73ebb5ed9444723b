"""The README's data dictionary is generated from the contracts and must not drift from them."""

from __future__ import annotations

from pipeline.data_dictionary import BEGIN, END, markdown
from pipeline.settings import REPO_ROOT


def test_readme_embeds_the_current_data_dictionary():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == markdown(), "run: uv run python -m tests.test_docs to refresh the README"


def test_dictionary_names_every_contract_column():
    text = markdown()
    for table in ("core.codes", "core.code_payers", "utilization.physician_geo_service", "marts.code_utilization"):
        assert f"`{table}`" in text
    assert "| `pos_codes` | VARCHAR[] | no |" in text


if __name__ == "__main__":
    readme_path = REPO_ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    readme_path.write_text(readme[:start] + markdown() + readme[end:], encoding="utf-8")
