"""The `microcks-pipeline` command line, the demo and the plan command's presentation."""

from microcks_pipeline.cli.main import main

__all__ = ["main"]
