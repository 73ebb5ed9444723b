"""The comparison behind the sensor, on plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipeline.inputs.change_detection import ObservedFile, RecordedFile, compare_folder, run_key, same_stat

# Modification times from 1970 to 2096, in nanoseconds.
MTIMES_NS = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)


def naive_utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def recorded_forms(mtime_ns: int) -> dict[str, datetime]:
    """The ways a run turns an mtime into the warehouse's microsecond TIMESTAMP."""
    seconds, nanos = divmod(mtime_ns, 10**9)
    return {
        "from st_mtime (documents)": naive_utc(seconds + nanos * 1e-9),
        "from st_mtime_ns / 1e9 (utilization)": naive_utc(mtime_ns / 1e9),
        "truncated to the microsecond": datetime(1970, 1, 1) + timedelta(microseconds=mtime_ns // 1000),
    }


@given(MTIMES_NS, st.integers(min_value=0, max_value=2**40))
def test_the_recorded_mtime_matches_the_file_it_was_read_from(mtime_ns, size):
    for form, recorded_at in recorded_forms(mtime_ns).items():
        assert same_stat(RecordedFile("0" * 64, size, recorded_at), ObservedFile("f", size, mtime_ns)), form


@given(MTIMES_NS, st.integers(min_value=2, max_value=10**12), st.booleans())
def test_an_mtime_moved_by_two_microseconds_or_more_is_a_difference(mtime_ns, moved_us, later):
    recorded_at = recorded_forms(mtime_ns)["from st_mtime_ns / 1e9 (utilization)"]
    moved_ns = mtime_ns + (moved_us if later else -moved_us) * 1000
    assert not same_stat(RecordedFile("0" * 64, 10, recorded_at), ObservedFile("f", 10, moved_ns))


def test_a_different_size_is_a_difference_whatever_the_mtime():
    at = naive_utc(1_700_000_000)
    assert not same_stat(RecordedFile("0" * 64, 10, at), ObservedFile("f", 11, 1_700_000_000 * 10**9))


def test_a_row_without_size_or_mtime_is_always_checked():
    assert not same_stat(RecordedFile(None, None, None), ObservedFile("f", 0, 0))


KEYS = st.text(alphabet="abcdef/._", min_size=1, max_size=8)


@given(st.dictionaries(KEYS, st.tuples(st.integers(0, 3), st.booleans()), max_size=12), st.sets(KEYS, max_size=6))
def test_every_difference_is_classified_once_and_only_moved_files_are_read(folder, recorded_only):
    """folder: key -> (content version, whether the run that recorded it saw the same size and mtime)."""
    at = naive_utc(1_700_000_000)
    recorded = {key: RecordedFile(f"v{version % 2}", 10, at) for key, (version, _) in folder.items()}
    recorded |= {key: RecordedFile("gone", 10, at) for key in recorded_only - folder.keys()}
    observed = [
        ObservedFile(key, 10, 1_700_000_000 * 10**9 if same else 1_800_000_000 * 10**9)
        for key, (version, same) in folder.items()
    ]
    read: list[str] = []

    def sha256_of(key: str) -> str:
        read.append(key)
        return f"v{folder[key][0]}"

    changes = compare_folder(recorded, observed, {}, sha256_of)
    assert sorted(read) == sorted(key for key, (_, same) in folder.items() if not same)
    assert changes.changed == [key for key, (version, same) in folder.items() if not same and version >= 2]
    assert changes.removed == sorted(recorded_only - folder.keys())
    assert changes.added == []


def test_skipped_entries_count_by_presence_only():
    at = naive_utc(1_700_000_000)
    recorded = {"kept-link": RecordedFile(None, None, None), "gone-link": RecordedFile(None, 1, at)}
    changes = compare_folder(recorded, [], {"kept-link": "symbolic link", "new-pipe": "named pipe"}, _never_read)
    assert (changes.added, changes.changed, changes.removed) == (["new-pipe"], [], ["gone-link"])


def _never_read(key: str) -> str:
    raise AssertionError(f"{key} was read")


def test_the_digest_names_the_differences_not_their_order():
    at = naive_utc(1_700_000_000)
    recorded = {"a": RecordedFile("A", 1, at), "b": RecordedFile("B", 1, at)}
    moved = [ObservedFile("a", 2, 0), ObservedFile("b", 2, 0)]
    contents = {"a": "A2", "b": "B2"}
    forward = compare_folder(recorded, moved, {}, contents.get)
    backward = compare_folder(recorded, list(reversed(moved)), {}, contents.get)
    assert forward.digest() == backward.digest()

    reverted = compare_folder({**recorded, "a": RecordedFile("A2", 1, at)}, moved, {}, {"a": "A", "b": "B2"}.get)
    assert reverted.digest() != forward.digest()


def test_the_run_key_changes_with_the_job_the_change_set_and_the_snapshot():
    base = run_key("documents_changed", "d1", "g1")
    assert base == run_key("documents_changed", "d1", "g1")
    assert len({base, run_key("utilization_changed", "d1", "g1"), run_key("documents_changed", "d2", "g1")}) == 3
    assert base != run_key("documents_changed", "d1", "g2")


def test_a_loaded_file_replaced_by_a_link_is_a_change():
    from datetime import datetime

    from pipeline.inputs.change_detection import RecordedFile, compare_folder

    recorded = {"a.txt": RecordedFile("a" * 64, 100, datetime(2026, 1, 1))}
    changes = compare_folder(recorded, [], {"a.txt": "symbolic link: not followed"}, lambda key: "")
    assert changes.changed == ["a.txt"] and not changes.removed
