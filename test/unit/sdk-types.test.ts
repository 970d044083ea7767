/**
 * The TypeScript SDK's types are generated from the OpenAPI document the API
 * serves (scripts/sdk-types.ts): the committed file must be exactly what
 * `npm run sdk:types` writes now, so a route change without regenerating fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { generateSdkTypes, SDK_TYPES_FILE } from '../../scripts/sdk-types';

test('sdk/typescript/src/generated/openapi.ts matches the served document (run npm run sdk:types after changing a route)', async () => {
  const generated = await generateSdkTypes();
  const committed = fs.readFileSync(SDK_TYPES_FILE, 'utf8');
  assert.ok(generated === committed, 'the committed SDK types are stale: run npm run sdk:types');
  for (const path of ['/api/prepare_transaction', '/api/transaction_status', '/api/execute_transaction']) assert.ok(committed.includes(`"${path}"`), path);
  assert.ok(committed.includes('allow_simulation_failure?: boolean') && committed.includes('last_event_id: string | null'));
});
