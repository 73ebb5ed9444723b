"""Synthetic CMS "Medicare Physician & Other Practitioners" files in the real layouts.

Values are synthetic but anchored on the 2025 Physician Fee Schedule national
amounts for the ablation codes (see shared reference FACTS.md); they are not
CMS data.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

# The published CMS headers, in file order (shared reference FACTS.md), written out rather than derived
# from the loader, so tests check the loader against the real layouts.
# The numeric measures both layouts end with.
SERVICE_MEASURES = [
    "Tot_Benes",
    "Tot_Srvcs",
    "Tot_Bene_Day_Srvcs",
    "Avg_Sbmtd_Chrg",
    "Avg_Mdcr_Alowd_Amt",
    "Avg_Mdcr_Pymt_Amt",
    "Avg_Mdcr_Stdzd_Amt",
]
GEO_HEADER = [
    "Rndrng_Prvdr_Geo_Lvl",
    "Rndrng_Prvdr_Geo_Cd",
    "Rndrng_Prvdr_Geo_Desc",
    "HCPCS_Cd",
    "HCPCS_Desc",
    "HCPCS_Drug_Ind",
    "Place_Of_Srvc",
    "Tot_Rndrng_Prvdrs",
    *SERVICE_MEASURES,
]
PROVIDER_HEADER = [
    "Rndrng_NPI",
    "Rndrng_Prvdr_Last_Org_Name",
    "Rndrng_Prvdr_First_Name",
    "Rndrng_Prvdr_MI",
    "Rndrng_Prvdr_Crdntls",
    "Rndrng_Prvdr_Ent_Cd",
    "Rndrng_Prvdr_St1",
    "Rndrng_Prvdr_St2",
    "Rndrng_Prvdr_City",
    "Rndrng_Prvdr_State_Abrvtn",
    "Rndrng_Prvdr_State_FIPS",
    "Rndrng_Prvdr_Zip5",
    "Rndrng_Prvdr_RUCA",
    "Rndrng_Prvdr_RUCA_Desc",
    "Rndrng_Prvdr_Cntry",
    "Rndrng_Prvdr_Type",
    "Rndrng_Prvdr_Mdcr_Prtcptg_Ind",
    "HCPCS_Cd",
    "HCPCS_Desc",
    "HCPCS_Drug_Ind",
    "Place_Of_Srvc",
    *SERVICE_MEASURES,
]
# Downloads for 2013-2022 made before CMS's November 2025 re-release: gender after the credentials.
PROVIDER_HEADER_WITH_GENDER = PROVIDER_HEADER[:5] + ["Rndrng_Prvdr_Gndr"] + PROVIDER_HEADER[5:]
# Pre-2019 "Physician and Other Supplier" files (tab-delimited .txt): the 2014-2017 form ...
LEGACY_HEADER_2014 = [
    "npi",
    "nppes_provider_last_org_name",
    "nppes_provider_first_name",
    "nppes_provider_mi",
    "nppes_credentials",
    "nppes_provider_gender",
    "nppes_entity_code",
    "nppes_provider_street1",
    "nppes_provider_street2",
    "nppes_provider_city",
    "nppes_provider_zip",
    "nppes_provider_state",
    "nppes_provider_country",
    "provider_type",
    "medicare_participation_indicator",
    "place_of_service",
    "hcpcs_code",
    "hcpcs_description",
    "hcpcs_drug_indicator",
    "line_srvc_cnt",
    "bene_unique_cnt",
    "bene_day_srvc_cnt",
    "average_Medicare_allowed_amt",
    "average_submitted_chrg_amt",
    "average_Medicare_payment_amt",
    "average_Medicare_standard_amt",
]
# ... and the 2012-2013 form: no drug indicator or standardized amount; a standard deviation after each average.
LEGACY_HEADER_2012 = [
    h.upper()
    for h in LEGACY_HEADER_2014[:18]
    + LEGACY_HEADER_2014[19:23]
    + ["stdev_Medicare_allowed_amt", "average_submitted_chrg_amt", "stdev_submitted_chrg_amt"]
    + ["average_Medicare_payment_amt", "stdev_Medicare_payment_amt"]
]

# code: (description, non-facility $, facility $, national facility services)
FEE_SCHEDULE = {
    "32994": ("Ablate pulm tumor perq crybl", 4456.05, 416.95, 1480),
    "32998": ("Ablate pulm tumor perq rf", 2849.40, 416.62, 2630),
    "20982": ("Ablate bone tumor(s) perq", 3226.89, 353.22, 1910),
    "20983": ("Ablate bone tumor(s) perq crybl", 4702.21, 329.61, 1205),
    "47382": ("Ablate liver tumor perc rf", 3369.86, 702.89, 3150),
    "47383": ("Ablate liver tumor perq crybl", 5468.82, 433.12, 640),
    "50592": ("Perq rf ablate renal tumor", 2569.61, 327.02, 2240),
    "50593": ("Ablate renal tumor perq crybl", 3448.46, 437.00, 5270),
}
STATES = [
    ("06", "California", 0.11, 1.08),
    ("12", "Florida", 0.09, 0.98),
    ("36", "New York", 0.07, 1.06),
    ("48", "Texas", 0.08, 0.97),
    ("17", "Illinois", 0.045, 1.0),
]


def geo_rows(rng: random.Random, year: int = 2023) -> list[list[str]]:
    rows = []
    for code, (desc, nonfac, fac, national_services) in FEE_SCHEDULE.items():
        for pos, amount, services in (("F", fac, national_services), ("O", nonfac, max(40, national_services // 25))):
            geos = [("National", "", "National", 1.0, 1.0)] + [("State", *state) for state in STATES]
            for level, geo_code, geo_desc, share, gpci in geos:
                total = round(services * share * rng.uniform(0.85, 1.15))
                benes = int(total * rng.uniform(0.88, 0.97))
                if benes < 11:  # CMS suppresses rows describing fewer than 11 beneficiaries
                    continue
                allowed = amount * gpci * rng.uniform(0.97, 1.03) * (year / 2025) ** 0.3
                rows.append(
                    [
                        level,
                        geo_code,
                        geo_desc,
                        code,
                        desc,
                        "N",
                        pos,
                        str(max(1, int(total / rng.uniform(3.0, 6.0)))),
                        str(benes),
                        f"{total:.1f}",
                        f"{total:.1f}",
                        f"{allowed * rng.uniform(2.8, 4.2):.2f}",
                        f"{allowed:.2f}",
                        f"{allowed * 0.795:.2f}",
                        f"{allowed / gpci:.2f}",
                    ]
                )
    return rows


def write_csv(path: Path, header: list[str], rows, *, quote_all: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


_LAST = ["Smith", "Nguyen", "Garcia", "O'Brien", "Patel", "Kim", "Rossi", "Cohen", "Okafor", "Larsen"]
_FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon"]
_TYPES = [
    "Diagnostic Radiology",
    "Interventional Radiology",
    "Thoracic Surgery",
    "Urology",
    "General Surgery",
    "Internal Medicine",
    "Family Practice",
    "Cardiology",
    "Orthopedic Surgery",
    "Nurse Practitioner",
]
_STATES = [("CA", "06"), ("TX", "48"), ("FL", "12"), ("NY", "36"), ("PA", "42"), ("IL", "17"), ("OH", "39")]


def provider_rows(n: int, rng: random.Random, *, n_codes: int = 6000):
    """Yield n rows of the 28-column layout with realistic skew (a few codes dominate)."""
    codes = list(FEE_SCHEDULE) + [f"{99200 + i % 800:05d}" if i % 3 else f"{10000 + i:05d}" for i in range(n_codes)]
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(codes))]
    picks = rng.choices(range(len(codes)), weights=weights, k=min(n, 200_000))
    for i in range(n):
        code = codes[picks[i % len(picks)]]
        # Each NPI gets one F and one O row, so the (npi, code, place of service) grain is unique.
        npi = 1_000_000_000 + i // 2
        state, fips = _STATES[(i // 2) % len(_STATES)]
        pos = "F" if i % 2 else "O"
        services = rng.lognormvariate(3.0, 1.2)
        allowed = rng.lognormvariate(4.3, 1.0)
        yield [
            str(npi),
            _LAST[i % 10],
            _FIRST[(i // 10) % 10],
            "A" if i % 4 == 0 else "",
            "M.D." if i % 5 else "N.P.",
            "I" if i % 11 else "O",
            f"{100 + i % 9000} Main St, Suite {i % 50}",
            "" if i % 6 else "Floor 2",
            "Springfield",
            state,
            fips,
            f"{(i * 7919) % 100000:05d}",
            "1" if i % 7 else "10.1",
            "Metropolitan area core: primary flow within an urbanized area of 50,000 and greater",
            "US",
            _TYPES[i % 10],
            "Y",
            code,
            'Office or outpatient visit, "established" patient',
            "N",
            pos,
            str(11 + int(services) // 2),
            f"{services + 11:.1f}",
            f"{services + 11:.1f}",
            f"{allowed * 3.1:.2f}",
            f"{allowed:.2f}",
            f"{allowed * 0.795:.2f}",
            f"{allowed * 0.99:.2f}",
        ]
