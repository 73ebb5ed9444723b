"""CPT/HCPCS billing-code analytics: documents and CMS utilization files into DuckDB."""
