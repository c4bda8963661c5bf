// A minimal real Backstage catalog backend for the tests (tests/test_backstage_real.py,
// tests/test_backstage_module.py). The test writes the app-config and passes it with
// `--config <file>` (read by @backstage/config-loader).
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
// The repository's own catalog module (../../backstage), installed from its packed files the
// way an adopter installs it; it does nothing unless the app-config has microcksPipeline.status.
backend.add(import('@microcks-pipeline/plugin-catalog-backend-module-microcks-status'));
backend.start();
