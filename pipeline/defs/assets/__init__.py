"""Dagster assets: each reads its inputs, calls the domain code, writes, and reports metadata."""
