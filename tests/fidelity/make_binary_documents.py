"""Write the binary documents of the fidelity corpus (PDF, Word, RTF, e-mail) reproducibly.

    uv run python tests/fidelity/make_binary_documents.py

The generated files are committed, so tests never need the generators (reportlab and python-docx are
development dependencies here; the e-mails and the RTF use the standard library only).  Running the script
again writes byte-identical files: reportlab runs in its ``invariant`` mode (fixed dates and document ids)
and the Word file gets fixed core properties and zip timestamps.

Each document is written the way its tool really produces it:
- a web page printed to PDF: the browser's running header and "Page 1 of 2" footer on every page, the
  modifier table drawn with rules and split across the page break with its header row repeated;
- a scanned PDF: one page that is only a picture, no text layer;
- a Word file with Heading styles, a real table, payers as bulleted list items and runs split inside words
  (as Word leaves them after spell-checking or tracked edits);
- an RTF export of a Word file with a table;
- a forwarded multipart e-mail whose parts are quoted-printable (a soft line break inside "Humana Inc.",
  "=" signs inside a cell), and one whose HTML part is base64.
"""

from __future__ import annotations

import io
import quopri
import zipfile
from datetime import datetime
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
FIXED_TIME = datetime(2026, 3, 3, 9, 14, 0)

# --- PDF printed from a web page -----------------------------------------------------------------------------

PDF_NAME = "22513_kyphoplasty_printed_page.pdf"
# The site's short form of the descriptor (the full one also names "unilateral or bilateral cannulation").
PDF_TITLE = (
    "CPT 22513: Percutaneous Vertebral Augmentation, Including Cavity Creation (Fracture Reduction and Bone "
    "Biopsy Included When Performed) Using Mechanical Device, Inclusive of All Imaging Guidance; Thoracic"
)
PDF_MODIFIERS = [
    ("00", "No modifier", "Single thoracic level treated with no special circumstances."),
    ("22", "Increased procedural services", "Substantially greater work, e.g. severe osteoporosis; attach notes."),
    ("26", "Professional component", "Physician reports only the professional part in a facility setting."),
    ("51", "Multiple procedures", "A second, unrelated procedure in the same session, per payer policy."),
    ("59", "Distinct procedural service", "A separate, unrelated site or encounter on the same day."),
    ("62", "Two surgeons", "Two surgeons each perform a distinct part of the procedure."),
    ("76", "Repeat procedure by same physician", "The same level is treated again on the same day."),
    ("78", "Unplanned return to the operating room", "Return for a related complication in the global period."),
    ("79", "Unrelated procedure during the postoperative period", "A new fracture treated during the global period."),
    ("80", "Assistant surgeon", "An assistant surgeon is medically necessary and covered by the payer."),
    ("AS", "Non-physician assistant at surgery", "A PA, NP or CNS assists at surgery."),
    ("KX", "Requirements in the medical policy met", "Documentation of failed conservative care is on file."),
    ("GA", "Waiver of liability on file", "An Advance Beneficiary Notice was signed before the service."),
    ("XS", "Separate structure", "A different vertebral structure, in place of 59 where the payer asks."),
]


def make_printed_pdf(path: Path) -> None:
    path.write_bytes(printed_pdf_bytes())


def printed_pdf_bytes(modifiers: list[tuple[str, str, str]] = PDF_MODIFIERS, clinical_paragraphs: int = 3) -> bytes:
    """The printed page; the benchmarks make longer ones (more table rows, more prose) with the same layout."""
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    rl_config.invariant = 1
    styles = getSampleStyleSheet()
    body, cell = styles["BodyText"], styles["BodyText"].clone("cell", fontSize=9, leading=11)
    width, height = letter

    def story():
        text = [
            Paragraph("Summary &amp; Overview", styles["Heading2"]),
            Paragraph(PDF_TITLE, styles["Heading1"]),
            Paragraph(
                "CPT code 22513 reports percutaneous vertebral augmentation (kyphoplasty) of one thoracic "
                "vertebral body, with a mechanical device creating a cavity before cement is injected. Nationally, "
                "the code is used across hospital outpatient departments, ambulatory surgery centers and "
                "inpatient hospitals.",
                body,
            ),
            Paragraph(
                "Key payers covered in this overview include Medicare, Aetna, Humana, Anthem Blue Cross and "
                "Blue Shield, and Kaiser Permanente.",
                body,
            ),
            Paragraph("Billing Code Overview", styles["Heading2"]),
            Paragraph(
                "CPT code 22513 describes the percutaneous augmentation of a thoracic vertebral body through one "
                "or two cannulas. All imaging guidance is included and is not reported separately; bone biopsy "
                "and fracture reduction at the same level are included when performed.",
                body,
            ),
            Paragraph("Service type: Percutaneous vertebral augmentation", body),
            Paragraph("Typical site of service: Hospital outpatient department, ambulatory surgery center", body),
            Paragraph("Clinical &amp; Coding Specifications", styles["Heading2"]),
            Paragraph("Clinical Context", styles["Heading3"]),
        ]
        for _ in range(clinical_paragraphs):
            text.append(
                Paragraph(
                    "A 77-year-old woman with osteoporosis has a painful T11 compression fracture that has not "
                    "improved after six weeks of bracing and analgesics. MRI shows marrow edema at T11. Under "
                    "biplane fluoroscopy, bilateral cannulas are placed through the pedicles, a balloon creates "
                    "a cavity and restores part of the height, and cement fills the cavity. She walks the same "
                    "evening and goes home the next morning.",
                    body,
                )
            )
        text += [Paragraph("Coding Specifications", styles["Heading3"]), Spacer(1, 4)]
        rows = [["Modifier", "Description", "When to Use"]]
        rows += [[code, Paragraph(name, cell), Paragraph(use, cell)] for code, name, use in modifiers]
        table = Table(rows, colWidths=[60, 170, 250], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        text.append(table)
        return text

    def build(target, total_pages: int) -> int:
        pages = []

        def running(canvas, doc):
            canvas.saveState()
            canvas.setFont("Helvetica", 8)
            canvas.drawString(36, height - 24, "3/3/26, 9:14 AM")
            canvas.drawRightString(width - 36, height - 24, "CPT 22513 Billing Code Overview | Codebook Online")
            canvas.drawString(36, 20, "https://codebook.example/cpt/22513")
            canvas.drawRightString(width - 36, 20, f"Page {doc.page} of {total_pages}")
            canvas.restoreState()
            pages.append(doc.page)

        doc = SimpleDocTemplate(target, pagesize=letter, topMargin=54, bottomMargin=54, invariant=1)
        doc.build(story(), onFirstPage=running, onLaterPages=running)
        return len(pages)

    total = build(io.BytesIO(), 0)
    buffer = io.BytesIO()
    build(buffer, total)
    return buffer.getvalue()


def make_scanned_pdf(path: Path) -> None:
    """A page that is only a picture of text (grey bars where lines of print would be): no text layer."""
    from reportlab import rl_config
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    rl_config.invariant = 1
    width, height = 300, 400
    pixels = bytearray(b"\xff" * (width * height))
    for line in range(30):
        top = 20 + line * 12
        for y in range(top, top + 6):
            start = y * width + 20
            pixels[start : start + 200 + (line * 37) % 60] = b"\x60" * (200 + (line * 37) % 60)
    from PIL import Image

    image = Image.frombytes("L", (width, height), bytes(pixels))
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=letter, invariant=1)
    canvas.drawImage(ImageReader(image), 36, 36, width=letter[0] - 72, height=letter[1] - 72)
    canvas.showPage()
    canvas.save()
    path.write_bytes(buffer.getvalue())


# --- Word ------------------------------------------------------------------------------------------------------

DOCX_NAME = "64628_basivertebral_nerve_ablation.docx"


def make_docx(path: Path) -> None:
    path.write_bytes(docx_bytes())


def docx_bytes(extra_rows: int = 0) -> bytes:
    """The Word overview; the benchmarks add ``extra_rows`` modifier rows to its table."""
    from docx import Document

    document = Document()
    properties = document.core_properties
    properties.author, properties.title = "Coding Team", "CPT 64628 overview"
    properties.created = properties.modified = FIXED_TIME
    properties.last_modified_by, properties.revision = "Coding Team", 1

    def split_runs(paragraph, *pieces: str, bold: bool = False) -> None:
        for piece in pieces:
            paragraph.add_run(piece).bold = bold

    document.add_heading("Summary & Overview", level=1)
    title = document.add_paragraph()
    # Runs split inside words, as Word stores a line after spell-checking and edits.
    split_runs(
        title,
        "CPT 64628: Thermal Destruction of Intraos",
        "seous Basivertebral Nerve, Including All Imaging Guid",
        "ance; First 2 Vertebral Bodies, Lumbar or Sacral",
    )
    paragraph = document.add_paragraph()
    split_runs(
        paragraph,
        "CPT code 64628 reports radiofrequency ablation of the basivertebral nerve inside two lumbar or sacral ",
        "verte",
        "bral bodies, for chronic vertebrogenic low back pain. Nationally, the code is used across hospital ",
        "outpatient departments and ambulatory surgery centers.",
    )
    document.add_paragraph("Key payers covered in this overview include:")
    for payer in ("Medicare", "Blue Cross Blue Shield of Michigan", "Humana", "Priority Health"):
        document.add_paragraph(payer, style="List Bullet")
    document.add_heading("Billing Code Overview", level=1)
    document.add_paragraph(
        "CPT code 64628 describes thermal destruction of the intraosseous basivertebral nerve of the first two "
        "vertebral bodies. All imaging guidance is included and is not reported separately."
    )
    key = document.add_paragraph()
    split_runs(key, "Service type:", bold=True)
    split_runs(key, " Intraosseous nerve abla", "tion")
    key = document.add_paragraph()
    split_runs(key, "Typical site of service:", bold=True)
    split_runs(key, " Hospital outpatient department, ambulatory surgery center")
    document.add_heading("Clinical & Coding Specifications", level=1)
    document.add_heading("Clinical Context", level=2)
    document.add_paragraph(
        "A 52-year-old with eight years of axial low back pain and Modic type 1 changes at L4 and L5 has failed "
        "physical therapy and medication. Through a transpedicular approach under fluoroscopy, a curved "
        "introducer reaches the basivertebral nerve of each body and a radiofrequency probe ablates it."
    )
    document.add_heading("Coding Specifications", level=2)
    rows = [
        ("Modifier", "Description", "When to Use"),
        ("00", "No modifier", "Two vertebral bodies treated, no special circumstances."),
        ("52", "Reduced services", "Only one vertebral body could be treated."),
        ("59", "Distinct procedural service", "A separate, unrelated procedure at another site the same day."),
        ("KX", "Requirements met", "Policy criteria (Modic changes, 6 months of pain) are documented."),
    ]
    rows += [(f"{index % 100:02d}", "Repeated row", f"Row {index} of a long table.") for index in range(extra_rows)]
    table = document.add_table(rows=len(rows), cols=3)
    table.style = "Table Grid"
    for row, values in zip(table.rows, rows, strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            if value == "Reduced services":
                cell.text = ""
                split_runs(cell.paragraphs[0], "Reduced ser", "vices")
            else:
                cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip_times(buffer.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The same archive with every member stamped with one fixed time, so the file is byte-identical each run."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            member.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(member, source.read(info.filename))
    return out.getvalue()


# --- RTF -------------------------------------------------------------------------------------------------------

RTF_NAME = "0275T_percutaneous_laminotomy.rtf"


def make_rtf(path: Path) -> None:
    def par(text: str, bold: bool = False, size: int = 22) -> str:
        escaped = _rtf_escape(text)
        return rf"\pard\plain\fs{size}{{\b {escaped}}}\par" if bold else rf"\pard\plain\fs{size} {escaped}\par"

    def row(cells: list[str]) -> str:
        edges = "".join(rf"\clbrdrt\brdrs\clbrdrb\brdrs\cellx{edge}" for edge in (1200, 4200, 9000))
        body = "".join(rf"\pard\intbl {_rtf_escape(c)}\cell " for c in cells)
        return rf"\trowd\trgaph108{edges}{body}\row"

    parts = [
        r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\info{\author Coding Team}}",
        par("Summary & Overview", bold=True, size=28),
        par(
            "CPT 0275T: Percutaneous Laminotomy/Laminectomy (Interlaminar Approach) for Decompression of Neural "
            "Elements, Any Method, Under Indirect Image Guidance, With the Use of an Endoscope When Performed, "
            "Single or Multiple Levels; Lumbar"
        ),
        par(
            "CPT code 0275T is a Category III code for image-guided lumbar decompression of spinal stenosis "
            "through a small portal. Nationally, the code is used across ambulatory surgery centers and "
            "hospital outpatient departments."
        ),
        par("Key payers covered in this overview include Medicare, Cigna and Highmark."),
        par("Billing Code Overview", bold=True, size=28),
        par(
            "CPT code 0275T describes percutaneous decompression of the lumbar canal. Fluoroscopic guidance "
            "is included in the code and is not reported separately."
        ),
        par("Service type: Percutaneous spinal decompression"),
        par("Typical site of service: Ambulatory surgery center"),
        par("Coding Specifications", bold=True, size=28),
        row(["Modifier", "Description", "When to Use"]),
        row(["00", "No modifier", "Decompression at one or more levels, no special circumstances."]),
        row(["KX", "Requirements met", "The payer's stenosis criteria are documented in the record."]),
        row(["GA", "Waiver on file", "A signed ABN is on file because the payer may deny the service."]),
        r"\pard\par}",
    ]
    path.write_bytes(("\r\n".join(parts) + "\r\n").encode("ascii"))


def _rtf_escape(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")
    return "".join(ch if ord(ch) < 128 else f"\\u{ord(ch)}?" for ch in escaped)


# --- E-mail ----------------------------------------------------------------------------------------------------

EML_QP_NAME = "33340_laa_closure_forwarded.eml"
EML_BASE64_NAME = "36482_venous_adhesive_ablation_base64.eml"

QP_BODY_TEXT = """Hi team, see the overview below for the LAA program. Ping me with questions.

Marisol

---------- Forwarded message ---------
From: Vendor Portal <no-reply@codebook.example>
Date: Mon, Mar 2, 2026 at 4:02 PM
Subject: CPT 33340: overview update
To: Marisol Ortega <mortega@harbor-heart.example>

Summary & Overview
CPT 33340: Percutaneous Transcatheter Closure of the Left Atrial Appendage With Endocardial Implant, Including Fluoroscopy, Transseptal Puncture, Catheter Placement(s), Left Atrial Angiography, Left Atrial Appendage Angiography, When Performed, and Radiological Supervision and Interpretation

CPT code 33340 reports transcatheter left atrial appendage occlusion for patients with non-valvular atrial fibrillation who cannot take long-term anticoagulation. Nationally, the code is used across inpatient hospitals and hospital outpatient departments.

Key payers covered in this overview include Medicare, UnitedHealthcare, Humana Inc., and Blue Cross and Blue Shield of Texas.

Billing Code Overview
CPT code 33340 describes percutaneous closure of the left atrial appendage with an endocardial implant. Fluoroscopic guidance is included in the code.

Service type: Transcatheter structural heart procedure
Typical site of service: Inpatient hospital

Coding Specifications
| Modifier | Description | When to Use |
|---|---|---|
| 00 | No modifier | CHA2DS2-VASc score >= 3 documented; no special circumstances. |
| Q0 | Investigational service | Device placed under an approved study protocol (registry = yes). |
| KX | Requirements met | Shared decision-making visit (SDM = done) documented before the procedure. |
"""


def make_forwarded_qp_email(path: Path) -> None:
    message = MIMEMultipart("alternative")
    message["From"] = "Marisol Ortega <mortega@harbor-heart.example>"
    message["To"] = "Revenue Cycle <rcm@harbor-heart.example>"
    message["Subject"] = "Fwd: CPT 33340: overview update"
    message["Date"] = "Tue, 03 Mar 2026 09:14:00 -0600"
    message["Message-ID"] = "<fixture-33340@harbor-heart.example>"
    message.set_boundary("==boundary-33340==")
    text = MIMEText("", "plain", "utf-8")
    text.replace_header("Content-Transfer-Encoding", "quoted-printable")
    text.set_payload(_quoted_printable(QP_BODY_TEXT, soft_break_after="Humana In"))
    html = MIMEText("", "html", "utf-8")
    html.replace_header("Content-Transfer-Encoding", "quoted-printable")
    html.set_payload(_quoted_printable(_as_html(QP_BODY_TEXT), soft_break_after="Humana In"))
    message.attach(text)
    message.attach(html)
    path.write_bytes(message.as_bytes().replace(b"\n", b"\r\n"))


def _quoted_printable(text: str, soft_break_after: str) -> str:
    """Quoted-printable as mailers write it: lines of at most 76 characters with soft breaks ("=" at the
    end), one of them right after ``soft_break_after`` (mailers break wherever the column falls)."""
    lines = []
    for line in text.split("\n"):
        encoded = quopri.encodestring(line.encode("utf-8")).decode("ascii").replace("=\n", "")
        forced = encoded.find(soft_break_after)
        chunks = (
            [encoded]
            if forced < 0
            else [encoded[: forced + len(soft_break_after)], encoded[forced + len(soft_break_after) :]]
        )
        pieces = [piece for chunk in chunks for piece in _wrap_encoded(chunk)]
        lines.append("=\n".join(pieces))
    return "\n".join(lines)


def _wrap_encoded(encoded: str, width: int = 72) -> list[str]:
    pieces = []
    while len(encoded) > width:
        cut = width
        while "=" in encoded[cut - 2 : cut]:  # never split an =XX escape
            cut -= 1
        pieces.append(encoded[:cut])
        encoded = encoded[cut:]
    return [*pieces, encoded]


def _as_html(text: str) -> str:
    """The HTML part a mail client sends beside the text: paragraphs, and the pipe table as a real table."""
    from html import escape

    out = ["<html><body>"]
    table: list[list[str]] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                table.append([cell.strip() for cell in line.strip("|").split("|")])
            continue
        if table:
            head, *body = table
            out.append("<table border=1><tr>" + "".join(f"<th>{escape(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body]
            out.append("</table>")
            table = []
        if line.strip():
            out.append(f"<div>{escape(line)}</div>")
        else:
            out.append("<br>")
    out.append("</body></html>")
    return "\n".join(out)


BASE64_HTML = """<html><head><meta charset="utf-8"><title>CPT 36482</title></head><body>
<h2>Summary &amp; Overview</h2>
<h1>CPT 36482: Endovenous Ablation Therapy of Incompetent Vein, Extremity, by Transcatheter Delivery of a Chemical Adhesive (eg, Cyanoacrylate) Remote From the Access Site, Inclusive of All Imaging Guidance and Monitoring, Percutaneous; First Vein Treated</h1>
<p>CPT code 36482 reports closure of an incompetent truncal vein with cyanoacrylate adhesive delivered through a catheter. Nationally, the code is used across physician offices and ambulatory surgery centers.</p>
<p>Key payers covered in this overview include Medicare, Aetna, Cigna and Blue Shield of California.</p>
<h2>Billing Code Overview</h2>
<p>CPT code 36482 describes percutaneous chemical adhesive ablation of the first vein treated in one extremity. Ultrasound guidance is included in the code.</p>
<p><b>Service type:</b> Endovenous vein ablation</p>
<p><b>Typical site of service:</b> Office</p>
<h2>Coding Specifications</h2>
<table>
<tr><th>Modifier</th><th>Description</th><th>When to Use</th></tr>
<tr><td>00</td><td>No modifier</td><td>One vein treated in one leg, no special circumstances.</td></tr>
<tr><td>RT</td><td>Right side</td><td>Vein treated in the right leg.</td></tr>
<tr><td>LT</td><td>Left side</td><td>Vein treated in the left leg.</td></tr>
</table>
<p>Sent from the Codebook Online mobile app</p>
</body></html>
"""

BASE64_TEXT = "This message has an HTML version; open it in a mail program that shows HTML.\n"


def make_base64_email(path: Path) -> None:
    message = EmailMessage()
    message["From"] = "Codebook Online <no-reply@codebook.example>"
    message["To"] = "Coding <coding@vein-clinic.example>"
    message["Subject"] = "Your saved overview: CPT 36482"
    message["Date"] = "Tue, 03 Mar 2026 09:14:00 -0000"
    message["Message-ID"] = "<fixture-36482@codebook.example>"
    message.set_content(BASE64_TEXT, cte="base64")
    message.add_alternative(BASE64_HTML, subtype="html", cte="base64")
    message.set_boundary("==boundary-36482==")
    path.write_bytes(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    make_printed_pdf(CORPUS / PDF_NAME)
    make_scanned_pdf(CORPUS / "27279_si_joint_fusion_scanned.pdf")
    make_docx(CORPUS / DOCX_NAME)
    make_rtf(CORPUS / RTF_NAME)
    make_forwarded_qp_email(CORPUS / EML_QP_NAME)
    make_base64_email(CORPUS / EML_BASE64_NAME)


if __name__ == "__main__":
    main()
