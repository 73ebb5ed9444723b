"""``cpt-warehouse``: the main command.

    cpt-warehouse build     materialize everything (same job as the schedule) and print a summary
    cpt-warehouse summary   print the summary of the current serving snapshot
    cpt-warehouse dictionary  print the data dictionary derived from the table contracts
    cpt-warehouse fidelity DIR GOLD  parse DIR and compare every fact with GOLD/<file>.json (exit 0 at 100%)
    cpt-warehouse superset-bundle --out FILE  the Superset dashboard bundle (bi/superset/) for the serving file
    cpt-warehouse lake history   the DuckLake's snapshots: time, tables changed, their row counts
    cpt-warehouse lake publish   commit the current serving file's changed tables to the lake (what `build` does)
    cpt-warehouse lake uri       the read-only duckdb-engine URI of the lake, for a BI tool

``build`` uses the Dagster instance in $DAGSTER_HOME when set (runs then show in the UI),
otherwise a throwaway one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from pipeline.failures import describe
from pipeline.settings import Settings, SettingsError, validate_settings
from pipeline.warehouse.tables import table_exists

EXIT_CONFIGURATION = 2


def check_configuration() -> Settings | int:
    """The settings, or exit code 2 with every reason when the configuration cannot work (nothing has run)."""
    try:
        settings = Settings.from_env()
        notes = validate_settings()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIGURATION
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return settings


def build(settings: Settings) -> int:
    import dagster as dg

    from pipeline.definitions import build_definitions
    from pipeline.defs.automation import materialize_everything

    # Built from the settings just checked, not the ones read when pipeline.definitions was first imported.
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get() if settings.dagster_home else dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def(materialize_everything.name)
    run_config = {"loggers": {"console": {"config": {"log_level": settings.log_level}}}}
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    failed_checks = [
        evaluation.asset_check_key.to_user_string()
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    ]
    print()
    if not result.success:
        print("RUN FAILED: the serving snapshot was not replaced.", file=sys.stderr)
        for check in failed_checks:
            print(f"  failed blocking check: {check}", file=sys.stderr)
        for event in result.all_events:
            if event.is_step_failure:
                print(
                    f"  failed step {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr
                )
    print_summary(settings.serving_path)
    return 0 if result.success else 1


def print_summary(serving_path: Path) -> None:
    if not serving_path.exists():
        print(f"No serving snapshot at {serving_path} yet.")
        return
    try:
        con = duckdb.connect(str(serving_path), read_only=True)
    except (duckdb.Error, OSError) as exc:
        print(f"Serving snapshot {serving_path} cannot be read: {describe(exc)}")
        return
    try:
        print(f"Serving snapshot: {serving_path}")
        statuses = con.execute("SELECT status, count(*) FROM core.documents GROUP BY status ORDER BY status").fetchall()
        total = sum(n for _, n in statuses)
        print(f"Documents: {total} (" + ", ".join(f"{n} {s}" for s, n in statuses) + ")")
        for document_id, status, problems in con.execute(
            "SELECT document_id, status, problems FROM core.documents WHERE status <> 'parsed' "
            "ORDER BY status DESC, document_id LIMIT 15"
        ).fetchall():
            print(f"  {status:8} {document_id}: {problems[:150]}")
        for name, status, error, loaded, quarantined in con.execute(
            "SELECT file_name, status, error, rows_loaded, rows_quarantined FROM utilization.source_files ORDER BY 1"
        ).fetchall():
            detail = error if error else f"{loaded} rows loaded, {quarantined} quarantined"
            print(f"Utilization file {name}: {status} ({detail})")
        _print_join_example(con)
        _print_payments(con)
        print("Rows per table:")
        tables = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name <> 'internal' "
            "ORDER BY schema_name, table_name"
        ).fetchall()
        for (table,) in tables:
            count = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            print(f"  {table:42} {count:>12,}")
    finally:
        con.close()


def _print_join_example(con) -> None:
    """Show documents joined to utilization for one code, so a run proves the mart end to end."""
    row = con.execute(
        "SELECT code FROM marts.code_utilization WHERE has_utilization ORDER BY code = '32994' DESC, code LIMIT 1"
    ).fetchone()
    if row is None:
        print("marts.code_utilization: no documented code has utilization rows yet")
        return
    code = row[0]
    # One line per year: summing years mixes real CMS rows with the synthetic sample and hides the trend.
    rows = con.execute(
        "SELECT data_year, place_of_service, geo_level, count(*), sum(total_services), max(avg_allowed_amount), "
        "any_value(care_sites_text), any_value(payer_count), is_synthetic "
        "FROM marts.code_utilization WHERE code = ? AND has_utilization GROUP BY ALL "
        "ORDER BY data_year, geo_level, place_of_service, is_synthetic",
        [code],
    ).fetchall()
    print(f"marts.code_utilization for {code} (documents joined to CMS utilization), by year:")
    for year, pos, level, n, services, allowed, sites, payers, synthetic in rows:
        label = "synthetic sample" if synthetic else "CMS"
        print(
            f"  {year} {level:8} {pos}: {n} row(s), {services or 0:,.0f} services, max avg allowed ${allowed or 0:,.2f}, "
            f"care sites {sites or '-'}, {payers} payers ({label})"
        )


def _print_payments(con) -> None:
    """The fee-schedule files and what Medicare pays for one code per setting, so a run proves the payments mart."""
    if not table_exists(con, "medicare.source_files") or not table_exists(con, "marts.code_site_payments"):
        return
    for name, status, release, error, loaded, quarantined in con.execute(
        "SELECT file_name, status, release, error, rows_loaded, rows_quarantined FROM medicare.source_files ORDER BY 1"
    ).fetchall():
        detail = error if error else f"{release}: {loaded} rows loaded, {quarantined} quarantined"
        print(f"Medicare policy file {name}: {status} ({detail[:200]})")
    rows = con.execute(
        "SELECT data_year, setting, professional_payment, facility_payment, total_payment, cms_avg_allowed_amount, "
        "is_synthetic FROM marts.code_site_payments WHERE code = '32994' ORDER BY data_year, setting"
    ).fetchall()
    if rows:
        print("marts.code_site_payments for 32994 (national Medicare payment per setting, and what CMS allowed):")

    def money(value) -> str:
        return "-" if value is None else f"${value:,.2f}"

    for year, setting, professional, facility, total, allowed, synthetic in rows:
        print(
            f"  {year} {setting:26} professional {money(professional):>10}, facility {money(facility):>10}, "
            f"total {money(total):>10}; CMS avg allowed {money(allowed)}{' (sample)' if synthetic else ''}"
        )


def lake_command(action: str) -> int:
    from pipeline.defs.resources import LakeResource
    from pipeline.publishing.lake import LakePublishFailed, format_history, lake_history, publish_to_lake, read_only_uri

    checked = check_configuration()
    if isinstance(checked, int):
        return checked
    settings = LakeResource.from_settings(checked, env_vars=False).settings
    if not settings.enabled:
        print("No lake configured: set CPT_LAKE_CATALOG and CPT_LAKE_DATA_PATH (docs/lake.md).", file=sys.stderr)
        return EXIT_CONFIGURATION
    if action == "uri":
        print(read_only_uri(settings))
        return 0
    try:
        if action == "history":
            print(format_history(lake_history(settings)))
            return 0
        result = publish_to_lake(checked.serving_path, settings)
    except LakePublishFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    written = ", ".join(result.tables_written) or "nothing changed"
    print(f"lake snapshot {result.snapshot_id}: {written} ({result.seconds:.2f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cpt-warehouse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="materialize everything and print a summary")
    sub.add_parser("summary", help="print the summary of the serving snapshot")
    sub.add_parser("dictionary", help="print the data dictionary (Markdown) derived from the table contracts")
    fidelity = sub.add_parser("fidelity", help="parse DIR and compare each document's facts with GOLD/<file>.json")
    fidelity.add_argument("documents_dir", metavar="DIR", type=Path)
    fidelity.add_argument("gold_dir", metavar="GOLD", type=Path)
    bundle = sub.add_parser(
        "superset-bundle", help="zip bi/superset/bundle for `superset import-dashboards`, pointing at the serving file"
    )
    bundle.add_argument(
        "--serving-path", type=Path, help="the serving file as the Superset host sees it (default: CPT_SERVING_PATH)"
    )
    bundle.add_argument("--out", type=Path, default=Path("cpt_superset_bundle.zip"), help="the ZIP file to write")
    lake = sub.add_parser("lake", help="the DuckLake target: history, publish, uri (docs/lake.md)")
    lake.add_argument("action", choices=("history", "publish", "uri"))
    args = parser.parse_args(argv)
    if args.command == "lake":
        return lake_command(args.action)
    if args.command == "superset-bundle":
        from pipeline.bi.superset_bundle import write_bundle_zip

        written = write_bundle_zip(args.serving_path or Settings.from_env().serving_path, args.out)
        print(f"wrote {written}; import it with: superset import-dashboards -p {written} -u <admin user>")
        return 0
    if args.command == "fidelity":
        from pipeline.documents.fidelity import main as fidelity_main

        settings = Settings.from_env()
        return fidelity_main(args.documents_dir, args.gold_dir, settings.reference_dir, settings.max_document_bytes)
    if args.command == "build":
        checked = check_configuration()
        return checked if isinstance(checked, int) else build(checked)
    if args.command == "dictionary":
        from pipeline.contracts.data_dictionary import markdown

        print(markdown())
        return 0
    print_summary(Settings.from_env().serving_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
