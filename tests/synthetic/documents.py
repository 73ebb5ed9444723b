"""Generate billing-code overview documents that vary the format within the documented rules.

Used by the benchmark (10,000 distinct codes) and by tests.  Variation: markdown
or bare headings, LF or CRLF, with or without a BOM, tables with or without outer
pipes, Oxford comma or not, two to six payers and sites, "Not available" values,
extra sections, CPT and HCPCS codes.  ``html_page`` renders the same kind of
overview as a page saved from a browser (scripts, navigation, a real ``<table>``),
and ``adversarial_documents`` builds inputs that make careless parsers quadratic.
"""

from __future__ import annotations

import html
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


HTML_PAYERS = [*PAYERS, "Blue Cross and Blue Shield of Texas", "Humana Inc.", "Kaiser Foundation Health Plan, Inc."]


def html_page(index: int, rng: random.Random) -> bytes:
    """A saved web page: head, scripts, styles, navigation, a footer, key lines in <strong>, a <table>."""
    system, code = code_for(index)
    organ, approach = rng.choice(ORGANS), rng.choice(APPROACHES)
    payers = rng.sample(HTML_PAYERS, rng.randint(2, 6))
    sites = rng.sample(SITES, rng.randint(2, 4))
    mods = [MODIFIERS[0], *rng.sample(MODIFIERS[1:], rng.randint(1, 4))]
    e = html.escape
    rows = "".join(f"<tr><td><code>{m}</code></td><td>{e(d)}</td><td><em>{e(w)}</em></td></tr>" for m, d, w in mods)
    nav = "".join(f'<li><a href="/codes/{10000 + i}">CPT {10000 + i}</a></li>' for i in range(rng.randint(20, 40)))
    related = "".join(f'<li><a href="/codes/{20000 + i}">Related code {20000 + i}</a></li>' for i in range(12))
    context = "".join(
        f"<p>A {rng.randint(40, 90)}-year-old patient with a {rng.uniform(0.8, 4.5):.1f} cm {organ.lower()} lesion is "
        "treated after multidisciplinary review; the workflow includes consent, sedation planning, "
        "<a href='/glossary/ablation-zone'>post-procedure imaging</a> to confirm the ablation zone, and "
        "<em>follow-up</em> at one, three and six months with contrast-enhanced imaging.</p>"
        for _ in range(rng.randint(2, 4))
    )
    body = f"""<header class="site"><a href="/">Coding Reference</a></header>
<nav aria-label="breadcrumb"><ol>{nav}</ol></nav>
<main><article>
<h2>Summary &amp; Overview</h2>
<h1>{system} {code}: Ablation of {organ} Tumor(s), {approach}</h1>
<p>{system} code {code} covers {approach.lower()} ablation of {organ.lower()} tumors.
Nationally, the code is used across {e(_oxford(sites, rng))}.</p>
<p>Key payers covered in this overview include {e(_oxford(payers, rng)).rstrip(".")}.</p>
<h2>Billing Code Overview</h2>
<p>{system} code {code} describes {approach.lower()} ablation. Imaging guidance, when used, is included.</p>
<div><strong>Service type:</strong>&nbsp;{approach} image-guided tumor ablation</div>
<div><strong>Typical site of service:</strong> {e(", ".join(s.rstrip("s") for s in sites))}</div>
<h2>Clinical &amp; Coding Specifications</h2>
<h3>Clinical Context</h3>
{context}
<h3>Coding Specifications</h3>
<table class="modifiers"><thead><tr><th>Modifier</th><th>Description</th><th>When to Use</th></tr></thead>
<tbody>{rows}</tbody></table>
</article>
<aside class="sidebar"><h4>Related</h4><ul>{related}</ul></aside></main>
<div class="cookie-banner" hidden><p>We use cookies to improve this site.</p><button>Accept</button></div>
<footer><p>&copy; 2026 Coding Reference. <a href="/privacy">Privacy</a></p></footer>"""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{system} {code} overview</title>
<style>body{{font-family:sans-serif;margin:0 auto;max-width:60rem}} table td{{padding:4px}}
.sidebar{{float:right;width:14rem}} .cookie-banner{{position:fixed;bottom:0}} nav ol li{{display:inline}}</style>
<link rel="stylesheet" href="/static/site.css"><meta name="viewport" content="width=device-width, initial-scale=1">
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}</script>
</head><body>{body}<script src="/static/app.js"></script><noscript>Enable JavaScript.</noscript></body></html>
"""
    return page.encode("utf-8")


def html_pages(n: int, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for index in range(n):
        _, code = code_for(index)
        yield f"{index:05d}_{code}.html", html_page(index, rng)


def adversarial_documents(size: int) -> dict[str, bytes]:
    """Inputs of about ``size`` bytes that trip quadratic regular expressions or tree building."""
    base = GOOD_DOCUMENT
    payers = "Aetna, Cigna, and Medicare"
    return {
        "runs of spaces in a list": base.replace(payers, "Aetna" + " " * size + ", Cigna").encode(),
        "runs of separators": base.replace(payers, ", ; and or & " * (size // 13)).encode(),
        "runs of tabs": (base + "\t" * size + "\n").encode(),
        "one giant line": (base + "word " * (size // 5) + "\n").encode(),
        "unclosed tags": ("<html><body>" + "<div><span><b><i>" * (size // 17) + base).encode(),
        "unclosed paragraphs": ("<html><body>" + "<p>x" * (size // 4)).encode(),
        "pipes": (base + "| " * (size // 2) + "\n").encode(),
        "known-name prefixes": base.replace(payers, "Blue Cross and Blue " * (size // 20)).encode(),
        "many short lines": (base + "a\n" * (size // 2)).encode(),
        # Table and list shapes (issue 18): every rewrite looks at a line and its neighbours only.
        "tab-separated rows": (base + "Modifier\tDescription\tWhen\n" + "00\t\tx\t\t\n" * (size // 8)).encode(),
        "one giant tab row": (base + "Modifier\tDescription\n" + "00\t" + "x\t" * (size // 2) + "\n").encode(),
        "fixed-width rows": (
            base
            + "Modifier  Description  When\n--------  -----------  ----\n"
            + ("59        " + "w" * 60 + "\n") * (size // 71)
        ).encode(),
        "long fixed-width underline": (
            base + "Modifier x\n" + "-- " * (size // 6) + "\n" + "w" * (size // 2) + "\n"
        ).encode(),
        "box-drawn continuation rows": (base + "+----+----+\n| 00 | a |\n" + "|    | b |\n" * (size // 12)).encode(),
        "box borders": (base + "+--+\n| 00 |\n" + "+-+-+-+-+\n" * (size // 10)).encode(),
        "link brackets": base.replace(payers, "[a](" * (size // 4)).encode(),
        "spaces before an address": base.replace(payers, "Aetna" + " " * size + "(http://x").encode(),
        "addresses": base.replace(payers, "Aetna (https://a.b/c) " * (size // 22)).encode(),
        "nested link brackets": base.replace(payers, "[" * (size // 2) + "](" * (size // 4)).encode(),
        "definition list": ("<html><body><dl>" + "<dt>50 – x</dt><dd>y</dd>" * (size // 25) + "</dl>" + base).encode(),
        "aria grid": (
            '<html><body><div role="table">' + '<div role="row"><div role="cell">00</div></div>' * (size // 47)
        ).encode(),
        "preformatted lines": ("<html><body><pre>" + base + "a\tb\n" * (size // 4) + "</pre>").encode(),
        "negations and opens": base.replace(
            "unilateral percutaneous", "without open rather than " * (size // 25)
        ).encode(),
    }


GOOD_DOCUMENT = """Summary & Overview
CPT 32994: Ablation of a Test Tumor, Percutaneous, Unilateral
CPT code 32994 covers unilateral percutaneous ablation of a tumor. Nationally, the code is used across hospital \
outpatient departments and ambulatory surgery centers.
Key payers covered in this overview include Aetna, Cigna, and Medicare.
Billing Code Overview
Service type: Percutaneous image-guided tumor ablation
Typical site of service: Hospital outpatient department or office
Coding Specifications
| Modifier | Description | When to Use |
|---|---|---|
| 00 | No modifier | Routine procedure. |
"""
