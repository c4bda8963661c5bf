import assert from 'node:assert/strict';
import { it } from 'node:test';

it('the package default export is a backend feature for backend.add(import(...))', async () => {
  const imported = await import('../src/index');

  const feature = imported.default as unknown as { $$type: string };
  assert.equal(feature.$$type, '@backstage/BackendFeature');
  assert.equal(imported.default, imported.catalogModuleMicrocksStatus);
});
