"""Pure domain logic: document parsing and name normalization.

Nothing in this package imports Dagster, DuckDB or pandas, so every rule here is
unit-tested on plain strings and reused unchanged by the assets and benchmarks.
"""
