"""Jobs, the daily schedule and the source-folder sensor.

Every job carries the ``cpt/warehouse`` tag; the instance config
(``warehouse/dagster_home/dagster.yaml``) limits runs with that tag to one at a
time, so a second run queues instead of failing.  The warehouse resource's file
lock backs this up for runs started outside the daemon (the CLI, tests).
"""

import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from pipeline.document_folder import iter_document_paths, sha256_file
from pipeline.settings import Paths
from pipeline.utilization.loader import list_utilization_files

WRITER_TAG = {"cpt/warehouse": "writer"}
CORE = dg.AssetSelection.groups("core")
UTILIZATION = dg.AssetSelection.groups("utilization")
DOWNSTREAM = dg.AssetSelection.groups("marts", "serving")

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Rebuild every table and publish the serving snapshot.",
    tags=WRITER_TAG,
)
documents_changed = dg.define_asset_job(
    "documents_changed",
    selection=CORE | DOWNSTREAM,
    description="Reload documents, rebuild marts, publish the snapshot.",
    tags=WRITER_TAG,
)
utilization_changed = dg.define_asset_job(
    "utilization_changed",
    selection=UTILIZATION | DOWNSTREAM,
    description="Load new or changed utilization files, rebuild marts, publish the snapshot.",
    tags=WRITER_TAG,
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=materialize_everything,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    description="Materialize everything every day at 05:00 UTC.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def watched_folders() -> dict[str, tuple[Path, str, Callable[[Path], list[Path]]]]:
    """kind -> (folder, job to run, the same file listing the asset uses, so both see the same files)."""
    paths = Paths.from_env()
    return {
        "documents": (paths.documents_dir, documents_changed.name, lambda folder: list(iter_document_paths(folder))),
        "utilization": (paths.utilization_dir, utilization_changed.name, list_utilization_files),
    }


def folder_changes(cursor: dict, folders: dict) -> tuple[list[dg.RunRequest], dict]:
    """Run requests for new, changed or removed files, and the next cursor.

    The cursor maps ``kind/relative path`` to the file's size, mtime, SHA-256 and a
    version counter.  A file is re-hashed only when its size or mtime moved, and a
    request is made only when its content hash changed.  The run key is
    ``kind/path@sha#version``: an unchanged file never triggers twice, and a file
    that changes back to earlier content (A→B→A) still triggers, because the
    version moved on.
    """
    new_cursor: dict = {}
    requests: list[dg.RunRequest] = []
    for kind, (folder, job_name, list_files) in folders.items():
        present = set()
        for path in list_files(folder) if folder.is_dir() else []:
            key = f"{kind}/{path.relative_to(folder).as_posix()}"
            present.add(key)
            stat = path.stat()
            previous = cursor.get(key)
            if previous and previous["size"] == stat.st_size and previous["mtime_ns"] == stat.st_mtime_ns:
                new_cursor[key] = previous
                continue
            digest = sha256_file(path)
            if previous and previous["sha256"] == digest:
                new_cursor[key] = {**previous, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
                continue
            version = previous["version"] + 1 if previous else 1
            new_cursor[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest, "version": version}
            requests.append(
                dg.RunRequest(
                    run_key=f"{key}@{digest[:16]}#{version}",
                    job_name=job_name,
                    tags={"cpt/changed_file": key, "cpt/change": "added" if previous is None else "changed"},
                )
            )
        for key, previous in cursor.items():
            if key.startswith(f"{kind}/") and key not in present:
                if previous.get("removed"):
                    new_cursor[key] = previous
                    continue
                version = previous["version"] + 1
                new_cursor[key] = {**previous, "removed": True, "version": version, "size": -1, "mtime_ns": -1}
                requests.append(
                    dg.RunRequest(
                        run_key=f"{key}@removed#{version}",
                        job_name=job_name,
                        tags={"cpt/changed_file": key, "cpt/change": "removed"},
                    )
                )
    return requests, new_cursor


@dg.sensor(
    name="source_folder_sensor",
    jobs=[documents_changed, utilization_changed],
    minimum_interval_seconds=30,
    description="Requests a run for each new, changed or removed file in the documents and utilization folders.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def source_folder_sensor(context: dg.SensorEvaluationContext):
    cursor = json.loads(context.cursor) if context.cursor else {}
    requests, new_cursor = folder_changes(cursor, watched_folders())
    context.update_cursor(json.dumps(new_cursor, sort_keys=True))
    if not requests:
        return dg.SkipReason("no new or changed files")
    return requests
