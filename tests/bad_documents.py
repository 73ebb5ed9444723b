"""The bad-input corpus: documents that must come out partial or rejected, with a clear reason.

Generated rather than committed, because some are binary, 20 MB or in legacy encodings.
Each entry: file name -> (bytes, expected status, substring expected in problems).
Codes differ from the sample documents' codes (except the deliberate duplicate), so a bad
document never displaces a good one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

GOOD = """Summary & Overview
CPT {code}: Ablation of a Test Tumor, Percutaneous, Unilateral
CPT code {code} covers unilateral percutaneous ablation of a tumor. Nationally, the code is used across hospital outpatient departments and ambulatory surgery centers.
Key payers covered in this overview include Aetna, Cigna, and Medicare.
Billing Code Overview
CPT code {code} describes a unilateral percutaneous ablation. Imaging guidance, when used, is included in the code description.
Service type: Percutaneous image-guided tumor ablation
Typical site of service: Hospital outpatient department or office
Clinical & Coding Specifications
Clinical Context
A patient with a small tumor is treated with percutaneous ablation under CT guidance.
Coding Specifications
| Modifier | Description | When to Use |
|---|---|---|
| 00 | No modifier | Routine procedure. |
| 50 | Bilateral procedure | Both sides treated. |
"""


def good(code: str = "47382") -> str:
    return GOOD.format(code=code)


def bad_corpus() -> dict[str, tuple[bytes, str, str]]:
    latin = good("47382").replace("A patient", "A patient from Montréal").encode("cp1252")
    truncated = (
        good("0601T").split("Clinical Context\n")[0]
        + "Clinical Context\nA patient with a small tumor is treated with percut"
    )
    no_title = good("20982").replace("CPT 20982: Ablation of a Test Tumor, Percutaneous, Unilateral\n", "")
    ragged = good("0602T").replace("| 50 | Bilateral procedure | Both sides treated. |", "| 50 | Bilateral procedure |")
    html = (
        "<!DOCTYPE html><html><head><title>Overview</title></head><body>"
        + "".join(f"<p>{line}</p>" for line in good("0603T").splitlines() if "|" not in line)
        + "<table><tr><th>Modifier</th><th>Description</th><th>When to Use</th></tr></table></body></html>"
    )
    # A valid title, so the hostile payer and title text travel all the way into the tables as data.
    sql = (
        good("0605T")
        .replace("Ablation of a Test Tumor", "Ablation'; DROP TABLE core.codes; --")
        .replace("Aetna, Cigna", "Robert'') -- DELETE FROM core.payers, Cigna")
    )
    huge = good("50593") + ("Filler line for a runaway export. " * 40 + "\n") * 16_000
    return {
        "empty.txt": (b"", "rejected", "empty file"),
        "whitespace_only.txt": (b"  \n\r\n\t\n", "rejected", "empty file"),
        "binary.dat": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "rejected", "binary file"),
        # Not documents at all: skipped unread, never rejected.
        "logo.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "skipped", "an image"),
        "README.txt": (
            b"This folder is the documents mount. If you can read this, it did not mount.\n",
            "skipped",
            "README",
        ),
        "overview_files/jquery.js": (b"!function(e){return e}(window);\n", "skipped", "script"),
        "overview_files/notes.txt": (good("0609T").encode(), "parsed", ""),  # text documents there are read
        "Thumbs.db": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "skipped", "operating system"),
        "latin1.txt": (latin, "partial", "not valid UTF-8"),
        # UTF-16/32 are text: decoded by their byte-order mark or their NUL pattern, not a problem.
        "utf16.txt": (good("C1000").replace("CPT C1000", "HCPCS C1000").encode("utf-16"), "parsed", ""),
        "utf16_no_bom.txt": (good("C1001").replace("CPT C1001", "HCPCS C1001").encode("utf-16-le"), "parsed", ""),
        "utf32.txt": (good("C1002").replace("CPT C1002", "HCPCS C1002").encode("utf-32"), "parsed", ""),
        "truncated.txt": (truncated.encode(), "partial", "truncated"),
        "no_title.txt": (no_title.encode(), "rejected", "no title line"),
        "ragged_table.txt": (ragged.encode(), "partial", "row has 2 cells, expected 3"),
        "duplicate_32994_older.txt": (good("32994").encode(), "rejected", "superseded"),
        "huge_20mb.txt": (huge.encode(), "rejected", "over the 5.0 MB limit"),
        "wrapped.html": (html.encode(), "partial", "modifier table has a header but no rows"),
        "sql_injection.txt": (sql.encode(), "parsed", ""),
        "four_digit_code.txt": (good("3299").encode(), "rejected", "not a valid CPT code"),
        "hcpcs_written_as_cpt.txt": (good("J1234").encode(), "rejected", "not a valid CPT code"),
        "missing_parts.txt": (
            b"CPT 0581T: Ablation, malignant breast tumor(s), percutaneous, cryotherapy\n",
            "partial",
            "no 'Service type:' line",
        ),
        "bad_modifier.txt": (good("0600T").replace("| 50 |", "| 5O0 |").encode(), "partial", "not two letters/digits"),
    }


def write_bad_corpus(directory: Path) -> dict[str, tuple[str, str]]:
    """Write the corpus; the duplicate is made older than everything else so the good 32994 wins."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, status, reason) in bad_corpus().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = (status, reason)
    old = time.time() - 30 * 24 * 3600
    os.utime(directory / "duplicate_32994_older.txt", (old, old))
    return expected
