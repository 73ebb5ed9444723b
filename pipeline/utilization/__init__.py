"""CMS Medicare utilization files: layout recognition and native DuckDB loading."""
