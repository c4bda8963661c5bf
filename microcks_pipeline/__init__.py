"""microcks-pipeline: keep Microcks mocks equal to what a Backstage catalog declares."""
