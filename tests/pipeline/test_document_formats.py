"""PDF, Word, RTF and e-mail documents: each converter on the committed fixture files (made by
tests/fidelity/make_binary_documents.py), the PDF layout rules on hand-placed text, and a folder of binary
documents through the Dagster core assets."""

from __future__ import annotations

import io
import shutil
import zipfile
from email.message import EmailMessage

import pytest

from pipeline.core.domains import PARSED, PARTIAL, REJECTED
from pipeline.core.known_names import KnownNames
from pipeline.core.reference_data import load_reference_data
from pipeline.documents.formats import convert, parse_any_document, sniff
from pipeline.documents.formats.eml import without_forwarded_headers
from pipeline.documents.formats.pdf_layout import Page, Segment, layout
from pipeline.settings import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "fidelity" / "corpus"
PRINTED_PDF = CORPUS / "22513_kyphoplasty_printed_page.pdf"
SCANNED_PDF = CORPUS / "27279_si_joint_fusion_scanned.pdf"
WORD = CORPUS / "64628_basivertebral_nerve_ablation.docx"
RTF = CORPUS / "0275T_percutaneous_laminotomy.rtf"
FORWARDED_QP = CORPUS / "33340_laa_closure_forwarded.eml"
BASE64_HTML = CORPUS / "36482_venous_adhesive_ablation_base64.eml"
KNOWN = KnownNames.from_reference(load_reference_data(REPO_ROOT / "sources" / "reference"))


def converted_text(path) -> str:
    kind, conversion = convert(path.read_bytes())
    assert not conversion.fatal, conversion.problems
    return conversion.text


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]


def test_each_form_is_recognised_by_content_not_name():
    assert sniff(PRINTED_PDF.read_bytes()) == "pdf"
    assert sniff(WORD.read_bytes()) == "docx"
    assert sniff(RTF.read_bytes()) == "rtf"
    assert sniff(FORWARDED_QP.read_bytes()) == "eml"
    # A mail pasted into a text file (From/Sent/To/Subject, no MIME headers) is read as text, as before.
    assert sniff((CORPUS / "32408_lung_core_biopsy_email.txt").read_bytes()) is None
    assert sniff(b"Service type: Tumor ablation\nDate: 2026\n\nCPT 32994: x\n") is None
    assert sniff(b"CPT 32994: Export notes\nSaved with %PDF-1.7 settings.\n") is None  # text that names a PDF


def test_other_archives_and_legacy_office_files_are_rejected_with_what_they_are():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("xl/workbook.xml", "<workbook/>")
    spreadsheet = parse_any_document(archive.getvalue())
    assert spreadsheet.status == REJECTED and "zip archive that is not a Word .docx" in spreadsheet.problems[0]
    legacy = parse_any_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    assert legacy.status == REJECTED and "Word 97-2003 .doc" in legacy.problems[0]


def test_printed_pdf_drops_running_lines_and_joins_the_table_across_the_page_break():
    text = converted_text(PRINTED_PDF)
    for running in ("Page 1 of 2", "Page 2 of 2", "codebook.example", "9:14 AM", "Codebook Online"):
        assert running not in text
    rows = table_rows(text)
    assert rows[0] == "| Modifier | Description | When to Use |"
    assert sum(row.startswith("| Modifier |") for row in rows) == 1  # the header repeated on page 2 is dropped
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        *("00", "22", "26", "51", "59", "62", "76", "78", "79", "80", "AS", "KX", "GA", "XS")
    ]
    # Cells wrapped inside their box are joined to their row.
    assert "| 79 | Unrelated procedure during the postoperative period | A new fracture" in text
    assert (
        "| 22 | Increased procedural services | Substantially greater work, e.g. severe osteoporosis; attach notes. |"
        in text
    )
    # The title heading wrapped over five lines is one heading, the title line the parser looks for.
    assert "\n# CPT 22513: Percutaneous Vertebral Augmentation, Including Cavity Creation" in text


def test_printed_pdf_parses_with_every_modifier():
    doc = parse_any_document(PRINTED_PDF.read_bytes())
    assert (doc.status, doc.code, doc.encoding) == (PARSED, "22513", "pdf")
    assert len(doc.modifiers) == 14 and doc.modifiers[-1].modifier_code == "XS"


def test_a_scanned_pdf_is_rejected_with_that_reason_never_silently_empty():
    doc = parse_any_document(SCANNED_PDF.read_bytes())
    assert doc.status == REJECTED
    assert "scanned PDF, no text layer" in doc.problems[0] and "no OCR" in doc.problems[0]


def test_a_damaged_pdf_is_rejected_with_a_reason():
    doc = parse_any_document(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    assert doc.status == REJECTED and "PDF cannot be opened" in doc.problems[0]


def _row(top: float, *cells: tuple[float, str], height: float = 10.0) -> list[Segment]:
    return [Segment(x0, x0 + 6 * len(text), top, top + height, text) for x0, text in cells]


def _page(*rows: list[Segment]) -> Page:
    return Page(600, 800, [segment for row in rows for segment in row])


def test_a_table_continued_with_other_columns_is_kept_as_two_tables_and_reported():
    first = _page(
        _row(700, (50, "Modifier"), (150, "Description"), (350, "When to Use")),
        _row(715, (50, "00"), (150, "No modifier"), (350, "Routine.")),
    )
    second = _page(
        _row(100, (50, "Modifier"), (250, "When to Use")),
        _row(115, (50, "RT"), (250, "Right side.")),
    )
    result = layout([first, second])
    assert any("continue on page 2 with 2 columns instead of 3" in problem for problem in result.problems)
    assert result.lines.count("| Modifier | Description | When to Use |") == 1
    assert "| Modifier | When to Use |" in result.lines


def test_a_table_continued_without_its_header_is_joined_and_a_page_number_alone_is_dropped():
    first = _page(
        _row(700, (50, "Modifier"), (150, "When to Use")),
        _row(715, (50, "00"), (150, "Routine.")),
        _row(780, (290, "3")),
    )
    second = _page(_row(60, (50, "RT"), (150, "Right side.")), _row(780, (290, "4")))
    result = layout([first, second])
    assert not result.problems
    assert [line for line in result.lines if line] == [
        "| Modifier | When to Use |",
        "|---|---|",
        "| 00 | Routine. |",
        "| RT | Right side. |",
    ]


def test_a_single_page_keeps_its_text_but_drops_a_footer_with_a_page_number():
    page = _page(
        _row(300, (50, "Service type: Tumor ablation")),
        _row(780, (40, "https://codebook.example/cpt/22513"), (520, "Page 1 of 1"), height=7),
    )
    assert [line for line in layout([page]).lines if line] == ["Service type: Tumor ablation"]


def test_short_lines_end_their_paragraph_and_full_lines_are_joined():
    page = _page(
        _row(100, (50, "Service type: Tumor ablation")),
        _row(112, (50, "Typical site of service: Office")),
        _row(130, (50, "A long line of prose that runs all the way to the right margin of the page, " + "x" * 20)),
        _row(142, (50, "and ends here.")),
    )
    lines = [line for line in layout([page]).lines if line]
    assert lines[:2] == ["Service type: Tumor ablation", "Typical site of service: Office"]
    assert lines[2].endswith("xxxx and ends here.")


def test_word_headings_lists_tables_and_split_runs():
    text = converted_text(WORD)
    assert "# Summary & Overview" in text and "## Coding Specifications" in text
    assert "CPT 64628: Thermal Destruction of Intraosseous Basivertebral Nerve, Including All Imaging Guidance;" in text
    assert "- Blue Cross Blue Shield of Michigan" in text and "- Priority Health" in text
    assert "Service type: Intraosseous nerve ablation" in text
    assert "| 52 | Reduced services | Only one vertebral body could be treated. |" in text
    doc = parse_any_document(WORD.read_bytes())
    assert (doc.status, doc.encoding) == (PARSED, "docx")
    assert doc.payers == ["Medicare", "Blue Cross Blue Shield of Michigan", "Humana", "Priority Health"]
    assert [m.modifier_code for m in doc.modifiers] == ["00", "52", "59", "KX"]


def _minimal_docx(body: str, styles: str) -> bytes:
    namespace = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("word/document.xml", f"<w:document {namespace}><w:body>{body}</w:body></w:document>")
        zipped.writestr("word/styles.xml", f"<w:styles {namespace}>{styles}</w:styles>")
    return archive.getvalue()


def test_word_lists_by_numbering_and_headings_by_style_name_in_any_language():
    """A German Word names its heading style's id "berschrift1" (its name stays "heading 1"); a list item is a
    plain paragraph with numbering properties; a tab stop definition is not a tab in the text."""
    styles = '<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>'
    body = (
        '<w:p><w:pPr><w:pStyle w:val="berschrift1"/></w:pPr><w:r><w:t>Kodierung</w:t></w:r></w:p>'
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs><w:numPr><w:ilvl w:val="0"/>'
        '<w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>Aet</w:t></w:r><w:r><w:t>na</w:t></w:r></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Service type: </w:t></w:r>'
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden </w:t></w:r><w:r><w:t>Ablation</w:t></w:r></w:p>"
    )
    kind, conversion = convert(_minimal_docx(body, styles))
    assert kind == "docx"
    assert [line for line in conversion.text.splitlines() if line] == [
        "# Kodierung",
        "- Aetna",
        "Service type: Ablation",
    ]


def test_a_damaged_word_file_is_rejected_with_a_reason():
    data = WORD.read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(archive, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name) if name != "word/document.xml" else b"<w:document")
    doc = parse_any_document(archive.getvalue())
    assert doc.status == REJECTED and "DOCX" in doc.problems[0].upper()


def test_rtf_table_cells_and_paragraphs():
    text = converted_text(RTF)
    assert "| KX | Requirements met | The payer's stenosis criteria are documented in the record. |" in text
    assert "Key payers covered in this overview include Medicare, Cigna and Highmark." in text
    assert "\\" not in text and "{" not in text
    doc = parse_any_document(RTF.read_bytes())
    assert (doc.status, doc.code, len(doc.modifiers)) == (PARSED, "0275T", 3)


def test_forwarded_quoted_printable_email_is_decoded_and_its_forward_headers_ignored():
    raw = FORWARDED_QP.read_bytes()
    assert b"Humana In=\r\nc." in raw  # the soft line break the raw file holds
    text = converted_text(FORWARDED_QP)
    assert "Humana Inc." in text and "In=" not in text
    assert "Forwarded message" not in text and "Subject:" not in text and "no-reply@" not in text
    doc = parse_any_document(raw, known_names=KNOWN)
    assert doc.status == PARSED and doc.encoding == "eml"
    assert doc.payers == ["Medicare", "UnitedHealthcare", "Humana Inc.", "Blue Cross and Blue Shield of Texas"]
    assert doc.modifiers[0].when_to_use == "CHA2DS2-VASc score >= 3 documented; no special circumstances."


def test_base64_email_reads_its_html_part():
    text = converted_text(BASE64_HTML)
    assert "open it in a mail program" not in text  # the text part, a placeholder, is not the one read
    doc = parse_any_document(BASE64_HTML.read_bytes())
    assert (doc.status, doc.code) == (PARSED, "36482")
    assert [m.modifier_code for m in doc.modifiers] == ["00", "RT", "LT"]


def test_an_email_attachment_is_reported_not_silently_dropped():
    message = EmailMessage()
    message["From"], message["Subject"], message["Message-ID"] = "a@example.org", "overview", "<1@example.org>"
    message.set_content((CORPUS / "47000_liver_needle_biopsy.txt").read_text(encoding="utf-8"))
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="47001.pdf")
    doc = parse_any_document(message.as_bytes())
    assert doc.code == "47000" and doc.status == PARTIAL
    assert any("attachment 47001.pdf (application/pdf) was not read" in problem for problem in doc.problems)


def test_outlook_style_forward_block_without_separator_is_dropped():
    text = "Please see below.\n\nFrom: Vendor\nSent: Monday\nTo: Team\nSubject: CPT 33340: update\n\nCPT 33340: Real"
    assert without_forwarded_headers(text).split() == ["Please", "see", "below.", "CPT", "33340:", "Real"]


def test_text_documents_still_go_through_the_text_decoder():
    doc = parse_any_document(b"\x00\x01binary junk")
    assert doc.status == REJECTED and doc.problems[0].startswith("binary file")
    assert doc.encoding is None


@pytest.mark.slow
def test_a_folder_with_a_pdf_and_a_word_file_loads_both(tmp_path):
    from tests.conftest import PipelineEnv, run_pipeline

    documents = tmp_path / "documents"
    documents.mkdir()
    for path in (PRINTED_PDF, WORD, SCANNED_PDF):
        shutil.copy(path, documents / path.name)
    (tmp_path / "utilization").mkdir()
    env = PipelineEnv(tmp_path, documents, tmp_path / "utilization", tmp_path / "cpt.duckdb", tmp_path / "s.duckdb")
    assert run_pipeline(env, "group:core").success
    rows = {row[0]: row[1:] for row in env.query("SELECT document_id, status, code, problems FROM core.documents")}
    assert rows[PRINTED_PDF.name][:2] == (PARSED, "22513")
    assert rows[WORD.name][:2] == (PARSED, "64628")
    assert rows[SCANNED_PDF.name][0] == REJECTED and "no text layer" in str(rows[SCANNED_PDF.name][2])
    modifiers = env.query("SELECT count(*) FROM core.code_modifiers WHERE code = '22513'")
    assert modifiers[0][0] == 14
