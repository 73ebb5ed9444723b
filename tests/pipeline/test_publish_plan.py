"""The publish plan follows the change: only a changed big table makes a publish a full rebuild."""

from __future__ import annotations

from pathlib import Path

from pipeline.contracts import CONTRACTS_BY_TABLE
from pipeline.publishing.snapshot import (
    FULL,
    INCREMENTAL,
    UNCHANGED,
    PreviousSnapshot,
    PublishInputs,
    PublishSettings,
    SnapshotTable,
    plan_publish,
)

BIG, SMALL = "utilization.physician_provider_service", "core.documents"
CONTRACTS = (CONTRACTS_BY_TABLE[BIG], CONTRACTS_BY_TABLE[SMALL])
ROWS = {BIG: 10_000_000, SMALL: 8}
SETTINGS = PublishSettings(full_rebuild_rows=1_000_000, compact_every=20, max_free_fraction=0.25)


def inputs(changed: set[str]) -> PublishInputs:
    previous = PreviousSnapshot(
        size_bytes=1,
        tables={c.table: SnapshotTable(1, c.ddl_digest, ROWS[c.table]) for c in CONTRACTS},
        row_counts=dict(ROWS),
        publishes_since_rebuild=1,
    )
    return PublishInputs(Path("s.duckdb"), CONTRACTS, previous, dict(ROWS), {t: 2 for t in ROWS}, frozenset(changed))


def test_an_unchanged_big_table_does_not_force_a_full_rebuild():
    plan = plan_publish(inputs({SMALL}), SETTINGS)
    assert (plan.mode, plan.tables_to_write) == (INCREMENTAL, (SMALL,))


def test_a_changed_big_table_makes_it_a_full_rebuild_naming_it():
    plan = plan_publish(inputs({BIG}), SETTINGS)
    assert plan.mode == FULL and BIG in plan.reason


def test_nothing_changed_writes_nothing():
    plan = plan_publish(inputs(set()), SETTINGS)
    assert (plan.mode, plan.tables_to_write) == (UNCHANGED, ())


def test_nothing_changed_is_no_reason_to_compact():
    """Compaction waits for a publish that writes anyway: a run that changes nothing leaves the file alone."""
    always = PublishSettings(full_rebuild_rows=1, compact_every=1, max_free_fraction=0.0)
    assert plan_publish(inputs(set()), always).mode == UNCHANGED
    assert plan_publish(inputs({SMALL}), always).mode == FULL
