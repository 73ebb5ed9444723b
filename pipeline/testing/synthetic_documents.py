"""Generate billing-code overview documents that vary the format within the documented rules.

Used by the benchmark (10,000 distinct codes) and by tests.  Variation: markdown
or bare headings, LF or CRLF, with or without a BOM, tables with or without outer
pipes, Oxford comma or not, two to six payers and sites, "Not available" values,
extra sections, CPT and HCPCS codes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

PAYERS = [
    "Aetna",
    "Cigna",
    "Cigna Health",
    "UHC",
    "UnitedHealthcare",
    "BCBS",
    "Blue Cross Blue Shield",
    "Humana",
    "Medicare",
    "Medicaid",
    "Anthem Blue Cross",
    "Regional Health Plan",
]
SITES = [
    "hospital outpatient departments",
    "ambulatory surgery centers",
    "inpatient hospitals",
    "offices",
    "interventional radiology suites",
]
MODIFIERS = [
    ("00", "No modifier", "Routine claim."),
    ("50", "Bilateral procedure", "Both sides treated."),
    ("59", "Distinct procedural service", "Separate lesion."),
    ("RT", "Right side", "Right side only."),
    ("LT", "Left side", "Left side only."),
    ("78", "Unplanned return", "Complication in the global period."),
    ("XS", "Separate structure", "A separate organ or structure."),
]
APPROACHES = ["Percutaneous", "Laparoscopic", "Open", "Endoscopic"]
ORGANS = ["Lung", "Liver", "Kidney", "Bone", "Thyroid", "Prostate", "Breast", "Adrenal Gland"]


def code_for(index: int) -> tuple[str, str]:
    """Distinct codes: mostly CPT (five digits), every tenth a HCPCS Level II code."""
    if index % 10 == 9:
        return "HCPCS", f"{'CGJ'[index % 3]}{index // 10 % 10000:04d}"
    return "CPT", f"{10000 + index:05d}"


def _oxford(items: list[str], rng: random.Random, conj: str = "and") -> str:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    comma = "," if rng.random() < 0.6 else ""
    return ", ".join(items[:-1]) + f"{comma} {conj} {items[-1]}"


def document(index: int, rng: random.Random) -> bytes:
    system, code = code_for(index)
    organ, approach = rng.choice(ORGANS), rng.choice(APPROACHES)
    side = rng.choice(["Unilateral", "Bilateral", ""])
    title = f"Ablation of {organ} Tumor(s), {approach}" + (f", {side}" if side else "")
    md = rng.random() < 0.4
    h = (lambda level, text: f"{'#' * level} {text}") if md else (lambda level, text: text)
    payers = rng.sample(PAYERS, rng.randint(2, 6))
    sites = rng.sample(SITES, rng.randint(2, 4))
    mods = [MODIFIERS[0], *rng.sample(MODIFIERS[1:], rng.randint(1, 4))]
    pipes = rng.random() < 0.7
    service_type = "Not available" if rng.random() < 0.05 else f"{approach} image-guided tumor ablation"
    site_line = rng.choice([", ", "; "]).join(s.rstrip("s") for s in sites[:-1]) + f" or {sites[-1].rstrip('s')}"
    lines = [
        h(2, "Summary & Overview"),
        f"{system} {code}: {title}",
        f"{system} code {code} covers {side.lower() or 'single-site'} {approach.lower()} ablation of {organ.lower()} "
        f"tumors. Nationally, the code is used across {_oxford(sites, rng)}.",
        f"Key payers covered in this overview include {_oxford(payers, rng)}.",
        "This summary equips coding managers and revenue cycle staff with the essentials of the code.",
        h(2, "Billing Code Overview"),
        f"{system} code {code} describes {approach.lower()} ablation of one or more {organ.lower()} tumors. "
        + rng.choice(
            [
                "Imaging guidance, when used, is included in the code description.",
                "Imaging guidance is reported separately.",
                "",
            ]
        ),
        f"Service type: {service_type}",
        f"Typical site of service: {site_line}",
        h(2, "Clinical & Coding Specifications"),
        h(3, "Clinical Context"),
        f"A {rng.randint(40, 90)}-year-old patient with a {rng.uniform(0.8, 4.5):.1f} cm {organ.lower()} lesion "
        "is treated after multidisciplinary review; the workflow includes consent, sedation planning and "
        "post-procedure imaging to confirm the ablation zone.",
        h(3, "Coding Specifications"),
    ]
    if pipes:
        lines += ["| Modifier | Description | When to Use |", "|---|---|---|"]
        lines += [f"| {m} | {d} | {w} |" for m, d, w in mods]
    else:
        lines += ["Modifier | Description | When to Use", "---|---|---"]
        lines += [f"{m} | {d} | {w}" for m, d, w in mods]
    if rng.random() < 0.3:
        lines += ["", h(3, "Documentation Requirements"), "Record lesion size, number treated and imaging used."]
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if rng.random() < 0.2 else data


def documents(n: int, seed: int = 42) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for index in range(n):
        _, code = code_for(index)
        yield f"{index:05d}_{code}.txt", document(index, rng)
