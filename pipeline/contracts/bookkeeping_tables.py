"""Contracts of the pipeline's own bookkeeping: the ``internal`` schema.

These tables are not published to BI (the publisher drops them from a copied working file and
BI users are told to ignore ``internal``), so they are kept out of ``ALL_CONTRACTS``, which drives
the data dictionary, the asset graph and the publish. They are contracts all the same: their
DDL comes from these models, so a column cannot drift between the code that writes it and the
code that reads it.

Unlike the data tables, bookkeeping holds state that no source folder can rebuild cheaply (which
partitions were verified, which parses are cached, what the serving file was built from), so the
working-file tables are created once and never replaced (``warehouse.tables.create_missing_table``).
Each model matches, column for column, the inline DDL that created these tables before they had a
contract, so a warehouse created by an older version keeps its tables as they are.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.contracts.table_contract import LIST_OF_TEXT, TableContract

INTERNAL_SCHEMA = "internal"


# --- in the working file -------------------------------------------------------------------------------


class TableChangeLog(pa.DataFrameModel):
    """Pipeline bookkeeping: one row per change a writer made to a table, written in the writer's transaction.
    The publisher copies only tables whose latest version moved, the marts rebuild when an input moved, and the
    publish guard accepts a shrink the removed source files explain."""

    table_name: Series[str] = pa.Field(description="Table that changed (schema.table).")
    version: Series[pd.Int64Dtype] = pa.Field(
        description="Version of the table after the change: time-based (microseconds), so a rebuilt working file "
        "never reuses a version the serving snapshot was built from."
    )
    changed_at: Series[pd.Timestamp] = pa.Field(description="When the change was recorded (UTC).")
    removed_rows: Series[pd.Int64Dtype] = pa.Field(
        ge=0, description="Rows that left the table because their source files were removed or superseded."
    )
    removed_sources: Series[object] = pa.Field(
        description="The removed or superseded source files those rows came from, sorted.", metadata=LIST_OF_TEXT
    )

    class Config:
        name = f"{INTERNAL_SCHEMA}.table_change_log"
        unique = ["table_name", "version"]


class MartBuilds(pa.DataFrameModel):
    """Pipeline bookkeeping: what each mart was last built from; a mart is rebuilt when this no longer matches."""

    mart: Series[str] = pa.Field(unique=True, description="The mart (schema.table).")
    inputs: Series[str] = pa.Field(
        nullable=True, description="JSON object: the change-log version of every table the mart's SQL reads."
    )
    contract_digest: Series[str] = pa.Field(
        nullable=True,
        description="The mart contract's ddl_digest and a digest of its SQL, as 'contract:sql'.",
    )

    class Config:
        name = f"{INTERNAL_SCHEMA}.mart_builds"


class VerifiedPartitions(pa.DataFrameModel):
    """Pipeline bookkeeping: partitions (one source file's rows of one data year) whose rows were verified against
    their table's contract, so the blocking check need not scan them again."""

    table_name: Series[str] = pa.Field(description="Partitioned table (schema.table).")
    source_file: Series[str] = pa.Field(description="Source file of the partition.")
    data_year: Series[pd.Int32Dtype] = pa.Field(description="Data year of the partition.")
    row_count: Series[pd.Int64Dtype] = pa.Field(
        ge=0, description="Rows the partition held when verified; a different count invalidates the record."
    )
    contract_digest: Series[str] = pa.Field(
        description="The contract's rules_digest when verified; a record under other rules is not valid."
    )
    verified_by: Series[str] = pa.Field(description="What verified it: the load or the contract check.")
    verified_at: Series[pd.Timestamp] = pa.Field(description="When it was verified (UTC).")

    class Config:
        name = f"{INTERNAL_SCHEMA}.verified_partitions"
        unique = ["table_name", "source_file", "data_year"]


class ParseCache(pa.DataFrameModel):
    """Pipeline bookkeeping: the parse of each current document content, so an unchanged document is never parsed
    twice."""

    sha256: Series[str] = pa.Field(unique=True, description="SHA-256 of the document's bytes.")
    parser_version: Series[str] = pa.Field(
        nullable=True,
        description="Cache key the parse was made under: the parser's source, the known names and the size limit.",
    )
    # zstd: DuckDB's default string compression cost 1 CPU-s per 50,000 parses at each checkpoint and kept the
    # JSON at 52 MB; zstd takes a fifth of that time and 10 MB (the cache is most of a big warehouse's file).
    payload: Series[str] = pa.Field(
        nullable=True, description="The parsed document as JSON.", metadata={"compression": "zstd"}
    )

    class Config:
        name = f"{INTERNAL_SCHEMA}.parse_cache"


# --- in the serving file (rewritten by every publish) ----------------------------------------------------


class SnapshotTables(pa.DataFrameModel):
    """Publisher bookkeeping: the table versions this snapshot was built from."""

    table_name: Series[str] = pa.Field(description="Published table (schema.table).")
    version: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, description="Its change-log version in the working file; NULL if never logged."
    )
    contract_digest: Series[str] = pa.Field(
        description="Its contract's ddl_digest; a different one makes the next publish a full rebuild."
    )
    rows: Series[pd.Int64Dtype] = pa.Field(ge=0, description="Rows it held.")

    class Config:
        name = f"{INTERNAL_SCHEMA}.snapshot_tables"


class SnapshotPublish(pa.DataFrameModel):
    """Publisher bookkeeping: how this snapshot was published."""

    published_at: Series[pd.Timestamp] = pa.Field(description="When it was published (UTC).")
    mode: Series[str] = pa.Field(isin=["full", "incremental"], description="full or incremental.")
    reason: Series[str] = pa.Field(description="Why that mode was chosen.")
    publishes_since_rebuild: Series[pd.Int64Dtype] = pa.Field(
        ge=0, description="Incremental publishes since the last full rebuild (0 for a full one)."
    )
    tables_written: Series[object] = pa.Field(description="Tables written by this publish.", metadata=LIST_OF_TEXT)

    class Config:
        name = f"{INTERNAL_SCHEMA}.snapshot_publish"


CHANGE_LOG_CONTRACT = TableContract(TableChangeLog)
MART_BUILDS_CONTRACT = TableContract(MartBuilds)
VERIFIED_PARTITIONS_CONTRACT = TableContract(VerifiedPartitions)
PARSE_CACHE_CONTRACT = TableContract(ParseCache)
SNAPSHOT_TABLES_CONTRACT = TableContract(SnapshotTables)
SNAPSHOT_PUBLISH_CONTRACT = TableContract(SnapshotPublish)
WORKING_FILE_BOOKKEEPING: tuple[TableContract, ...] = (
    CHANGE_LOG_CONTRACT,
    MART_BUILDS_CONTRACT,
    VERIFIED_PARTITIONS_CONTRACT,
    PARSE_CACHE_CONTRACT,
)
SERVING_FILE_BOOKKEEPING: tuple[TableContract, ...] = (SNAPSHOT_TABLES_CONTRACT, SNAPSHOT_PUBLISH_CONTRACT)
BOOKKEEPING_CONTRACTS: tuple[TableContract, ...] = WORKING_FILE_BOOKKEEPING + SERVING_FILE_BOOKKEEPING
