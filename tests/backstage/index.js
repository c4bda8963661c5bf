// A minimal real Backstage catalog backend for tests/test_backstage_real.py. The test writes
// the app-config and passes it with `--config <file>` (read by @backstage/config-loader).
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.start();
