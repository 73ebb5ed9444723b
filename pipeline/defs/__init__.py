"""All Dagster wiring: assets, asset checks, jobs, schedule, sensor, resources, and the cpt-warehouse CLI."""
