"""Payer aliases and care-site mappings, resolved against the real reference CSVs."""

from __future__ import annotations

import pytest

from pipeline.core.care_sites import CareSiteDirectory
from pipeline.core.payer_aliases import PayerDirectory
from pipeline.core.reference_data import ReferenceDataError, load_reference_data, read_reference_csv
from tests.conftest import REFERENCE


@pytest.fixture(scope="module")
def reference():
    return load_reference_data(REFERENCE)


@pytest.mark.parametrize(
    ("written", "payer_id"),
    [
        ("Cigna", "cigna_healthcare"),
        ("Cigna Health", "cigna_healthcare"),
        ("Cigna Healthcare", "cigna_healthcare"),
        ("CIGNA", "cigna_healthcare"),
        ("UHC", "unitedhealthcare"),
        ("UnitedHealthcare", "unitedhealthcare"),
        ("United Healthcare", "unitedhealthcare"),
        ("BCBS", "blue_cross_blue_shield"),
        ("Blue Cross Blue Shield", "blue_cross_blue_shield"),
        ("BlueCross BlueShield", "blue_cross_blue_shield"),
        ("Anthem Blue Cross", "anthem"),
        ("the Medicare", "medicare"),
        ("CMS", "medicare"),
    ],
)
def test_aliases_resolve_to_one_payer(reference, written, payer_id):
    match = PayerDirectory(reference.payers, reference.payer_aliases).resolve(written)
    assert match.is_resolved and match.payer_id == payer_id


def test_unknown_payer_is_kept_unresolved(reference):
    match = PayerDirectory(reference.payers, reference.payer_aliases).resolve("Regional Health Plan of Example County")
    assert not match.is_resolved
    assert match.payer_id == "unresolved_regional_health_plan_of_example_county"
    assert match.payer_name == "Regional Health Plan of Example County"


def test_no_fuzzy_merging(reference):
    assert not PayerDirectory(reference.payers, reference.payer_aliases).resolve("Cigna Medicare Advantage").is_resolved


@pytest.mark.parametrize(
    ("written", "pos_codes"),
    [
        ("Hospital outpatient department", ("19", "22")),
        ("hospital outpatient departments", ("19", "22")),
        ("Ambulatory Surgery Centers", ("24",)),
        ("ambulatory surgical center", ("24",)),
        ("inpatient hospitals", ("21",)),
        ("Office", ("11",)),
        ("offices", ("11",)),
        ("interventional radiology suites", ("19", "22")),
        ("other procedural suite capable of image-guided thoracic interventions", ("19", "22")),
    ],
)
def test_care_sites_map_to_pos_codes(reference, written, pos_codes):
    match = CareSiteDirectory(reference.care_sites, reference.care_site_aliases).resolve(written)
    assert match.is_resolved and match.pos_codes == pos_codes


def test_unknown_care_site_is_kept_unresolved(reference):
    match = CareSiteDirectory(reference.care_sites, reference.care_site_aliases).resolve("patient's home")
    assert not match.is_resolved and match.pos_codes == ()


def test_reference_csv_with_wrong_columns_is_rejected(tmp_path):
    path = tmp_path / "payers.csv"
    path.write_text("id,name\n1,x\n")
    with pytest.raises(ReferenceDataError, match="columns"):
        read_reference_csv(path, ("payer_id", "payer_name"))


def test_alias_to_unknown_payer_is_rejected(tmp_path):
    for name in ("payers", "payer_aliases", "care_sites", "care_site_aliases", "modifiers", "place_of_service"):
        (tmp_path / f"{name}.csv").write_bytes((REFERENCE / f"{name}.csv").read_bytes())
    with (tmp_path / "payer_aliases.csv").open("a") as handle:
        handle.write("Mystery Plan,no_such_payer\n")
    with pytest.raises(ReferenceDataError, match="no_such_payer"):
        load_reference_data(tmp_path)


@pytest.mark.parametrize(
    ("written", "payer_id"),
    [
        ("Blue Cross and Blue Shield of Texas", "bcbs_of_texas"),
        ("Blue Cross Blue Shield of Texas", "bcbs_of_texas"),
        ("BCBS of Texas", "bcbs_of_texas"),
        ("BlueCross BlueShield of Texas", "bcbs_of_texas"),
        ("Blue Cross & Blue Shield of Texas", "bcbs_of_texas"),
        ("Blue Cross and Blue Shield of North Carolina", "bcbs_of_north_carolina"),
        ("Anthem Blue Cross and Blue Shield", "anthem"),
        ("Blue Cross Blue Shield", "blue_cross_blue_shield"),
        ("Humana Inc.", "humana"),
        ("U.S. Department of Veterans Affairs", "veterans_affairs"),
        ("Kaiser Foundation Health Plan, Inc.", "kaiser_permanente"),
    ],
)
def test_blue_cross_affiliates_and_names_with_periods(reference, written, payer_id):
    match = PayerDirectory(reference.payers, reference.payer_aliases).resolve(written)
    assert match.is_resolved and match.payer_id == payer_id


def test_each_state_affiliate_has_its_own_row_under_the_association(reference):
    affiliates = [row for row in reference.payers if row["payer_id"].startswith("bcbs_of_")]
    assert len(affiliates) >= 50
    assert {row["parent_organization"] for row in affiliates} == {"Blue Cross Blue Shield Association"}
    assert all(row["payer_name"].startswith("Blue Cross and Blue Shield of ") for row in affiliates)


@pytest.mark.parametrize("directory", ["payers", "sites"])
def test_unresolved_ids_are_unique_and_stable_for_any_script(reference, directory):
    resolver = (
        PayerDirectory(reference.payers, reference.payer_aliases)
        if directory == "payers"
        else CareSiteDirectory(reference.care_sites, reference.care_site_aliases)
    )
    names = [
        "כללית",
        "מכבי",
        "التأمين الصحي",
        "全国健康保険協会",
        "국민건강보험",
        "🏥 Health",
        "🏥🏥",
        "Clínica Ñandú",
        "Clinica Nandu",
    ]
    ids = [
        resolver.resolve(name).__getattribute__("payer_id" if directory == "payers" else "care_site_id")
        for name in names
    ]
    assert len(set(ids)) == len(names), ids
    assert all(i.startswith("unresolved_") and i != "unresolved_blank" for i in ids)
    again = [resolver.resolve(name) for name in names]
    assert [getattr(m, "payer_id" if directory == "payers" else "care_site_id") for m in again] == ids


def test_ascii_unresolved_ids_stay_readable():
    from pipeline.core.name_matching import unresolved_id

    assert unresolved_id("Regional Health Plan") == "unresolved_regional_health_plan"
    assert unresolved_id("Regional  health plan") == unresolved_id("Regional Health Plan")
    assert unresolved_id("x" * 200) != unresolved_id("x" * 199)
