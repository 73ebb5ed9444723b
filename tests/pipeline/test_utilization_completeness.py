"""The completeness rules of a CMS file (completeness.py) and the same-year ranking they feed (year_claims.py)."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from pipeline.core.reference_data import ReferenceDataError, synthetic_file_digests
from pipeline.settings import Settings, SettingsError
from pipeline.utilization import completeness
from pipeline.utilization.cms_layouts import recognize_layout
from pipeline.utilization.completeness import (
    FileIdentity,
    StillBeingWritten,
    check_still,
    cut_off_reason,
    ends_with_line_break,
    quarantine_verdict,
    shrink_verdict,
)
from pipeline.utilization.file_access import StoredFile
from pipeline.utilization.year_claims import Candidate, rank_candidates, why_holder_wins
from tests.conftest import run_pipeline
from tests.synthetic.cms import GEO_HEADER, PROVIDER_HEADER, geo_rows, provider_rows, write_csv

REPO = Path(__file__).resolve().parents[2]


def geo_file(path: Path, rows: int = 30) -> Path:
    return write_csv(path, GEO_HEADER, geo_rows(random.Random(1))[:rows])


def test_complete_file_is_not_cut(tmp_path):
    assert cut_off_reason(geo_file(tmp_path / "a.csv"), ",", len(GEO_HEADER)) is None


def test_last_line_without_newline_and_too_few_fields_is_cut(tmp_path):
    path = geo_file(tmp_path / "a.csv")
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 12])
    reason = cut_off_reason(path, ",", len(GEO_HEADER))
    assert reason.startswith("cut off: last line incomplete (download interrupted?)")
    assert f"of {len(GEO_HEADER)} fields" in reason


def test_a_complete_last_line_without_newline_is_not_cut(tmp_path):
    path = geo_file(tmp_path / "a.csv")
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    assert cut_off_reason(path, ",", len(GEO_HEADER)) is None


def test_cut_check_reads_only_the_tail(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"h1,h2,h3\n" + b"x" * (200 * 1024))  # one 200 KiB line without a break: cut
    assert "no line break in the last 64 KiB" in cut_off_reason(path, ",", 3)


def test_ends_with_line_break(tmp_path):
    path = geo_file(tmp_path / "a.csv")
    assert ends_with_line_break(path)
    path.write_bytes(path.read_bytes()[:-3])
    assert not ends_with_line_break(path)


def test_check_still_detects_an_append_and_a_replacement(tmp_path):
    path = geo_file(tmp_path / "a.csv")
    before = FileIdentity.of(path)
    check_still(path, before)  # unchanged: no error
    with path.open("a") as handle:
        handle.write("more\n")
    with pytest.raises(StillBeingWritten, match="still being written.*size"):
        check_still(path, before)
    other = geo_file(tmp_path / "b.csv")
    same_size = FileIdentity.of(path)
    os.replace(other, path)  # another inode under the same name
    with pytest.raises(StillBeingWritten, match="inode"):
        check_still(path, same_size)
    path.unlink()
    with pytest.raises(StillBeingWritten, match="disappeared"):
        check_still(path, same_size)


@pytest.mark.parametrize(
    ("previous", "new", "allow", "expected"),
    [
        (1000, 600, False, None),
        (1000, 500, False, None),
        (1000, 499, False, "lost most of its rows"),
        (1000, 0, False, "has no data rows"),
        (1000, 0, True, None),
        (1000, 10, True, None),
        (0, 0, False, None),
    ],
)
def test_shrink_verdict(previous, new, allow, expected):
    verdict = shrink_verdict(previous, new, 0.5, allow)
    assert verdict is None if expected is None else expected in verdict


def test_shrink_threshold_is_configurable(monkeypatch):
    monkeypatch.setenv(completeness.MAX_FILE_SHRINK_ENV, "0.9")
    assert shrink_verdict(1000, 150, Settings.from_env().utilization_max_file_shrink, False) is None
    monkeypatch.setenv(completeness.MAX_FILE_SHRINK_ENV, "lots")
    with pytest.raises(SettingsError, match="CPT_UTILIZATION_MAX_FILE_SHRINK='lots' is not a number"):
        Settings.from_env()


def test_quarantine_verdict():
    assert quarantine_verdict(10, 19, 0.5) is None  # too few lines to judge
    assert quarantine_verdict(10, 20, 0.5) is None
    assert quarantine_verdict(11, 20, 0.5) == (
        "not a CMS file of this layout (11 of 20 lines quarantined; more than "
        "CPT_UTILIZATION_MAX_QUARANTINE_FRACTION=0.5)"
    )
    assert "16,000,000 of 16,000,001" in quarantine_verdict(16_000_000, 16_000_001, 0.5)


def candidate(
    name: str, mtime: int, *, cut: str | None = None, loaded_before: bool = False, unterminated: bool = False
) -> Candidate:
    path = Path(name)
    return Candidate(
        path=path,
        stored=StoredFile(path, "none"),
        header=recognize_layout(GEO_HEADER),
        delimiter=",",
        year=2023,
        release=None,
        size=1,
        mtime_ns=mtime,
        loaded_before=loaded_before,
        cut_off=cut,
        unterminated=unterminated,
    )


def test_a_complete_file_beats_a_newer_cut_one_and_says_why():
    complete = candidate("a.csv", 1)
    cut = candidate("a (1).csv", 2, cut="cut off: last line incomplete (download interrupted?)")
    ranked = rank_candidates([cut, complete], lambda c: c.name)
    assert ranked == [complete, cut]
    why = why_holder_wins(complete, cut, lambda c: c.name)
    assert why == "it is complete; a (1).csv is cut off: last line incomplete (download interrupted?)"


def test_a_complete_new_file_beats_a_cut_file_loaded_before():
    old = candidate("old.csv", 5, cut="cut off: x", loaded_before=True)
    new = candidate("new.csv", 1)
    assert rank_candidates([old, new], lambda c: c.name) == [new, old]


def test_a_copy_cut_inside_its_last_field_loses_to_the_one_ending_with_a_line_break():
    whole = candidate("a.csv", 1)
    copy = candidate("a (1).csv", 2, unterminated=True)
    cut = candidate("a (2).csv", 3, cut="cut off: x")
    assert rank_candidates([cut, copy, whole], lambda c: c.name) == [whole, copy, cut]
    assert why_holder_wins(whole, copy, lambda c: c.name) == (
        "it ends with a line break; a (1).csv does not (cut inside its last field?)"
    )


def test_loaded_first_is_said_only_of_an_earlier_run():
    held = candidate("a.csv", 1, loaded_before=True)
    newer = candidate("b.csv", 2)
    assert "loaded first, in an earlier run" in why_holder_wins(held, newer, lambda c: c.name)
    both_new = candidate("a.csv", 3)
    assert "loaded first" not in why_holder_wins(both_new, newer, lambda c: c.name)


def test_synthetic_digests_are_the_bundled_samples_sha256():
    """One list for every bundled sample folder (each asset labels its own files by digest): exactly the samples'
    digests, none stale, none missing."""
    digests = synthetic_file_digests(REPO / "sources" / "reference")
    samples = {
        folder: [p for p in sorted((REPO / "sources" / folder).iterdir()) if p.is_file() and p.name != "README.md"]
        for folder in ("utilization", "medicare_policy")
    }
    assert all(samples.values()), samples
    assert digests == {hashlib.sha256(p.read_bytes()).hexdigest() for paths in samples.values() for p in paths}


def test_a_malformed_digest_names_the_file_and_line(tmp_path):
    (tmp_path / "synthetic_utilization_files.csv").write_text("sha256,file_name,note\nabc,x.csv,n\n")
    with pytest.raises(ReferenceDataError, match="synthetic_utilization_files.csv line 2: sha256 'abc'"):
        synthetic_file_digests(tmp_path)


def test_a_file_changed_during_the_load_is_rolled_back(pipeline_env, monkeypatch):
    """The load itself ran (rows inserted), then the identity check failed: nothing of it stays."""
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", lambda p: os.utime(p, ns=(1, 10**18)))
    assert run_pipeline(pipeline_env, "group:utilization").success
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_geo_service") == [(0,)]
    [(status, size, sha)] = pipeline_env.query("SELECT status, file_size_bytes, sha256 FROM utilization.source_files")
    assert (status, size, sha) == ("skipped", None, None)
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", None)
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, size)] = pipeline_env.query("SELECT status, file_size_bytes FROM utilization.source_files")
    assert (status, size) == ("loaded", path.stat().st_size)


def test_a_cut_zip_member_and_a_truncated_gzip_are_rejected_keeping_their_rows(pipeline_env):
    import gzip
    import zipfile

    from tests.synthetic.cms import PROVIDER_HEADER, provider_rows

    data = write_csv(pipeline_env.root / "p.csv", PROVIDER_HEADER, provider_rows(300, random.Random(1))).read_bytes()
    gz = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D21_Prov_Svc.csv.gz"
    zp = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D20_Prov_Svc.zip"
    member = "MUP_PHY_R25_P05_V20_D20_Prov_Svc.csv"
    gz.write_bytes(gzip.compress(data))
    with zipfile.ZipFile(zp, "w") as archive:
        archive.writestr(member, data)
    assert run_pipeline(pipeline_env, "group:utilization").success
    gz.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])
    cut = data.rindex(b"\n", 0, len(data) // 2) + 40  # inside the next line
    with zipfile.ZipFile(zp, "w") as archive:
        archive.writestr(member, data[:cut])
    assert run_pipeline(pipeline_env, "group:utilization").success
    rows = dict(
        (name, (status, kept, error))
        for name, status, kept, error in pipeline_env.query(
            "SELECT file_name, status, rows_loaded, error FROM utilization.source_files"
        )
    )
    assert rows[zp.name][:2] == ("rejected", 300) and rows[zp.name][2].startswith("cut off: last line incomplete")
    assert rows[gz.name][:2] == ("rejected", 300) and "GZIP" in rows[gz.name][2]
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_provider_service") == [(600,)]


def test_a_download_in_progress_is_still_being_written_not_cut(pipeline_env, monkeypatch):
    """Listed while cut (no final newline), completed before the read: skipped, then loaded whole."""
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D22_Geo.csv"
    data = geo_file(pipeline_env.root / "full.csv").read_bytes()
    half = data.rindex(b"\n", 0, len(data) // 2) + 20
    path.write_bytes(data[:half])
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", lambda p: p == path and p.write_bytes(data))
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, error, size)] = pipeline_env.query(
        "SELECT status, error, file_size_bytes FROM utilization.source_files WHERE file_name = ?", [path.name]
    )
    assert (status, size) == ("skipped", None) and error.startswith("still being written")
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", None)
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, loaded)] = pipeline_env.query(
        "SELECT status, rows_loaded FROM utilization.source_files WHERE file_name = ?", [path.name]
    )
    assert (status, loaded) == ("loaded", 30)


def _edit_one_count_keeping_size_and_mtime(path: Path, column: str) -> float:
    """Change the last digit of ``column`` on the first data line; the size and mtime stay. Returns the delta."""
    stat = path.stat()
    lines = path.read_bytes().split(b"\n")
    header = lines[0].decode().split(",")
    fields = lines[1].decode().split(",")
    index = header.index(column)
    value = fields[index]
    fields[index] = value[:-1] + str(int(value[-1]) + (-1 if value[-1] == "9" else 1))
    delta = float(fields[index]) - float(value)
    lines[1] = ",".join(fields).encode()
    path.write_bytes(b"\n".join(lines))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    return delta


def test_an_edit_that_keeps_size_and_mtime_is_reloaded(pipeline_env):
    """The sensor requests a run for such an edit (ctime after the recorded read); that run must load it."""
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    total = "SELECT sum(total_services) FROM utilization.physician_geo_service"
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(before,)] = pipeline_env.query(total)
    delta = _edit_one_count_keeping_size_and_mtime(path, "Tot_Srvcs")
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(after,)] = pipeline_env.query(total)
    assert after == pytest.approx(before + delta) and delta
    [(sha,)] = pipeline_env.query("SELECT sha256 FROM utilization.source_files")
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_only_touched_after_its_load_is_not_reloaded_and_hashed_once(pipeline_env, monkeypatch):
    from pipeline.utilization import loader

    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    assert run_pipeline(pipeline_env, "group:utilization").success
    loads, hashes = [], []
    real_load, real_hash = loader._load_transaction, loader.sha256_file
    monkeypatch.setattr(loader, "_load_transaction", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    monkeypatch.setattr(loader, "sha256_file", lambda p: hashes.append(p.name) or real_hash(p))
    os.chmod(path, 0o644)  # moves the change time only; same bytes
    assert run_pipeline(pipeline_env, "group:utilization").success
    assert (loads, hashes) == ([], [path.name])  # hashed once to see the bytes are the same, not reloaded
    assert run_pipeline(pipeline_env, "group:utilization").success
    assert (loads, hashes) == ([], [path.name])  # and not hashed again on the next run


def test_a_cut_utf16_file_is_judged_on_its_decoded_text(pipeline_env):
    """UTF-16 bytes are not lines: the cut check runs on the decoded copy, so a complete file loads and a cut
    one is rejected keeping the rows loaded before."""
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("utf-16"))
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, rows)] = pipeline_env.query("SELECT status, rows_loaded FROM utilization.source_files")
    assert (status, rows) == ("loaded", text.count("\n") - 1)
    cut = text[: text.rindex("\n", 0, len(text) - 1) + 15]
    path.write_bytes(cut.encode("utf-16"))
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, error)] = pipeline_env.query("SELECT status, error FROM utilization.source_files")
    assert status == "rejected" and error.startswith("cut off: last line incomplete"), error
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_geo_service") == [(rows,)]


def test_a_file_rejected_at_listing_that_completes_before_its_record_is_still_being_written(pipeline_env, monkeypatch):
    """A download listed at 0 bytes (no header yet) and finished while another file loads: recording it as
    rejected with its final size and hash would make every later run and the sensor call it unchanged."""
    complete = write_csv(pipeline_env.root / "p.csv", PROVIDER_HEADER, provider_rows(300, random.Random(3)))
    downloading = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D21_Prov_Svc.csv"
    downloading.write_bytes(b"")

    def finish_download(path: Path) -> None:
        if path.name.endswith("_Geo.csv") and not downloading.stat().st_size:
            downloading.write_bytes(complete.read_bytes())

    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", finish_download)
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, size, sha, error)] = pipeline_env.query(
        "SELECT status, file_size_bytes, sha256, error FROM utilization.source_files WHERE file_name = ?",
        [downloading.name],
    )
    assert (status, size, sha) == ("skipped", None, None) and error.startswith("still being written"), error
    monkeypatch.setattr(completeness, "BEFORE_READ_HOOK", None)
    assert run_pipeline(pipeline_env, "group:utilization").success
    assert pipeline_env.query(
        "SELECT status, rows_loaded FROM utilization.source_files WHERE file_name = ?", [downloading.name]
    ) == [("loaded", 300)]


def test_a_complete_gzip_of_a_cut_file_is_judged_on_its_text(pipeline_env):
    """The gzip stream is whole, the CSV inside it was cut before compression: the decompressed tail decides."""
    import gzip

    data = write_csv(pipeline_env.root / "p.csv", PROVIDER_HEADER, provider_rows(300, random.Random(1))).read_bytes()
    gz = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D21_Prov_Svc.csv.gz"
    gz.write_bytes(gzip.compress(data))
    assert run_pipeline(pipeline_env, "group:utilization").success
    gz.write_bytes(gzip.compress(data[: data.rindex(b"\n", 0, len(data) - 300) + 40]))
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, kept, error)] = pipeline_env.query(
        "SELECT status, rows_loaded, error FROM utilization.source_files WHERE file_name = ?", [gz.name]
    )
    assert (status, kept) == ("rejected", 300) and error.startswith("cut off: last line incomplete"), error
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_provider_service") == [(300,)]


def test_a_run_of_nul_bytes_is_not_loaded_as_one_quarantined_line(pipeline_env):
    """A preallocating downloader (or a damaged copy) leaves NULs where rows should be: the file is rejected,
    the rows loaded before stay; the NULs never pass as a single bad line."""
    data = write_csv(pipeline_env.root / "p.csv", PROVIDER_HEADER, provider_rows(300, random.Random(1))).read_bytes()
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D21_Prov_Svc.csv"
    path.write_bytes(data)
    assert run_pipeline(pipeline_env, "group:utilization").success
    start = data.index(b"\n", len(data) // 3) + 1
    path.write_bytes(data[:start] + b"\0" * (len(data) // 3) + data[start + len(data) // 3 :])
    assert run_pipeline(pipeline_env, "group:utilization").success
    [(status, kept, error)] = pipeline_env.query(
        "SELECT status, rows_loaded, error FROM utilization.source_files WHERE file_name = ?", [path.name]
    )
    assert (status, kept) == ("rejected", 300) and error.startswith(
        f"NUL bytes in the text (the first at byte {start:,})"
    )
    assert pipeline_env.query("SELECT count(*) FROM utilization.physician_provider_service") == [(300,)]


def test_a_cut_copy_beside_a_cut_holder_is_told_the_truth(pipeline_env):
    path = pipeline_env.utilization_dir / "MUP_PHY_R25_P05_V20_D23_Geo.csv"
    assert run_pipeline(pipeline_env, "group:utilization").success
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, len(data) * 6 // 10) + 12])
    copy = path.with_name("MUP_PHY_R25_P05_V20_D23_Geo (1).csv")
    copy.write_bytes(data[: data.rindex(b"\n", 0, len(data) * 8 // 10) + 12])
    assert run_pipeline(pipeline_env, "group:utilization").success
    errors = dict(pipeline_env.query("SELECT file_name, error FROM utilization.source_files"))
    assert errors[path.name].startswith("cut off")
    assert errors[copy.name].startswith("cut off") and "is itself rejected" in errors[copy.name], errors[copy.name]
