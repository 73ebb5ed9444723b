"""Build the bundled medicare policy sample (sources/medicare_policy/) in the real CMS layouts, and list its files
in sources/reference/synthetic_utilization_files.csv (matched by SHA-256, so their rows say is_synthetic).

Run: uv run python -m tests.build_medicare_sample. Where every value comes from: sources/medicare_policy/README.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

from tests import medicare_policy_files as F

REPO = Path(__file__).resolve().parent.parent
FOLDER = REPO / "sources" / "medicare_policy"
DIGESTS = REPO / "sources" / "reference" / "synthetic_utilization_files.csv"
CF_2025, CF_2023 = "32.3465", "33.8872"
FIXED_TIME = 1_767_225_600  # 2026-01-01: a stable modification time keeps the sample's zips byte-identical

# (code, global days, work RVU, 2025 non-facility $, 2025 facility $, bilateral) from the 2025 PFS (FACTS.md).
PUBLISHED_2025 = [
    ("32998", "000", "9.03", 2849.40, 416.62, "1"),
    ("20982", "000", "7.02", 3226.89, 353.22, "1"),
    ("20983", "000", "6.88", 4702.21, 329.61, "1"),
    ("47382", "010", "14.97", 3369.86, 702.89, "0"),
    ("50592", "010", "6.55", 2569.61, 327.02, "1"),
    ("50593", "010", "8.88", 3448.46, 437.00, "1"),
]
# 2023 January totals (non-facility / facility RVU) from PPRRVU23_JAN.csv (MEDICARE_POLICY_FILES.md §1).
TOTALS_2023 = {"32994": ("148.37", "12.80"), "32998": ("94.37", "12.84"), "47383": ("180.53", "13.18"),
               "50593": ("114.61", "13.40"), "20983": ("154.62", "10.05")}  # fmt: skip


def _components(work: str, nf_total: str, f_total: str) -> tuple[str, str, str]:
    """Made-up split of a real total into PE and MP (MP 0.90), so the totals stay the published ones."""
    mp = 0.90
    return f"{float(nf_total) - float(work) - mp:.2f}", f"{float(f_total) - float(work) - mp:.2f}", f"{mp:.2f}"


def rows_2025() -> list[dict]:
    rows = list(F.ROWS_2025_OCT)
    for code, glob, work, nf_amount, f_amount, bilat in PUBLISHED_2025:
        nf_total, f_total = f"{nf_amount / float(CF_2025):.2f}", f"{f_amount / float(CF_2025):.2f}"
        nf_pe, f_pe, mp = _components(work, nf_total, f_total)
        rows.append(F.pfs_row(code, "A", work, nf_pe, f_pe, mp, nf_total, f_total, CF_2025, glob=glob, bilat=bilat))
    return sorted(rows, key=lambda r: (r["hcpcs"], r["mod"]))


def rows_2023() -> list[dict]:
    rows = []
    for code, (nf_total, f_total) in TOTALS_2023.items():
        work = "9.03" if code == "32994" else "8.00"  # made up (only the totals are known)
        nf_pe, f_pe, mp = _components(work, nf_total, f_total)
        rows.append(F.pfs_row(code, "A", work, nf_pe, f_pe, mp, nf_total, f_total, CF_2023, bilat="1"))
    rows.append(F.pfs_row("77013", "A", "3.99", "0.97", "0.97", "0.44", "5.40", "5.40", CF_2023, mod="26",
                          pctc="1", glob="XXX", mult="0", asst="0"))  # fmt: skip
    return rows


def addendum_b() -> bytes:
    """APC 5361/5362 assignments are the 2025 ones (FACTS.md); every weight, rate and copayment is made up."""
    rows = [
        F.opps_row("20982", "J1", "5114", "47.2101", 3402.77, None, 680.56),
        F.opps_row("20983", "J1", "5114", "47.2101", 3402.77, None, 680.56),
        F.opps_row("32994", "J1", "5362", "127.4410", 9185.05, None, 1837.01),
        F.opps_row("32998", "J1", "5361", "75.5012", 5441.61, None, 1088.33),
        F.opps_row("47382", "J1", "5361", "75.5012", 5441.61, None, 1088.33),
        F.opps_row("47383", "J1", "5362", "127.4410", 9185.05, None, 1837.01),
        F.opps_row("50592", "J1", "5361", "75.5012", 5441.61, None, 1088.33),
        F.opps_row("50593", "J1", "5362", "127.4410", 9185.05, None, 1837.01),
        F.opps_row("77013", "N"),
        F.opps_row(
            "C9751", "J1", "5155", "181.3307", 13069.19, None, 2613.84, desc="Microwave bronch, 3d, adv"
        ),  # fmt: skip
    ]
    return F.addendum_b_csv(rows, month_year="October 2025")


def addendum_aa() -> bytes:
    """Payment indicators J8/G2/N1 are real ASC indicator values; which code carries which, weights and rates are
    made up."""
    rows = [
        F.aa_row("20982", "J8", "66.2016", 3728.64),
        F.aa_row("20983", "J8", "66.2016", 3728.64),
        F.aa_row("32994", "J8", "110.5120", 6224.26),
        F.aa_row("47382", "G2", "58.0034", 3266.93),
        F.aa_row("50592", "J8", "82.4410", 4643.31),
        F.aa_row("50593", "J8", "110.5120", 6224.26),
        F.aa_row("77013", "N1", discount="N"),
    ]
    return F.addendum_aa_xlsx(rows, month_year="October 2025")


def _fixed_zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def build() -> dict[str, bytes]:
    title_2025 = F.pprrvu_title(2025, "October")
    return {
        "RVU25D.zip": _fixed_zip(
            {
                "PPRRVU2025_Oct.csv": F.pprrvu_csv(rows_2025(), title=title_2025),
                "PPRRVU2025_Oct.txt": F.pprrvu_txt(rows_2025(), title="RVU25D NATIONAL PHYSICIAN FEE SCHEDULE"),
            }
        ),  # fmt: skip
        "RVU23A.zip": _fixed_zip(
            {"PPRRVU23_JAN.txt": F.pprrvu_txt(rows_2023(), title="NATIONAL PHYSICIAN FEE SCHEDULE")}
        ),
        "2025 October Web Addendum B.csv": addendum_b(),
        "October 2025 ASC Addendum AA.xlsx": addendum_aa(),
    }


def main() -> None:
    files = build()
    for name, data in files.items():
        path = F.write(FOLDER / name, data)
        os.utime(path, (FIXED_TIME, FIXED_TIME))
    lines = DIGESTS.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not any(f",{name}," in line or f',"{name}",' in line for name in files)]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for name, data in files.items():
        writer.writerow([hashlib.sha256(data).hexdigest(), name,
                         "Bundled medicare policy sample: real CMS layout, values partly made up "
                         "(sources/medicare_policy/README.md). Not CMS data."])  # fmt: skip
    DIGESTS.write_text("\n".join(kept) + "\n" + out.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    main()
