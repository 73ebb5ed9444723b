"""The working DuckDB file: tables written from their contracts, transactions, table existence, the change log."""
