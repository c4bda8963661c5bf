"""`python -m microcks_pipeline.cli` runs the command line."""

import sys

from microcks_pipeline.cli.main import main

sys.exit(main())
