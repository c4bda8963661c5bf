"""The Dagster layer: thin definitions that call the library (sensors, assets, jobs, ...)."""
