"""Use cases that combine the core, the sources, Microcks and the store: scan, load, sync, audit."""
