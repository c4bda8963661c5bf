"""Pure rules and value types: no I/O, no Dagster, no HTTP, no SQL."""
