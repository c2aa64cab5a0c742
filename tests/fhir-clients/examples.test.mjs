// HL7's official R4 examples through a patient's gateway: every clinical and
// financial example is created with fhir-kit-client, read back, and must come
// back unchanged but for what a FHIR server assigns (id, meta.versionId,
// meta.lastUpdated).
//
// The Rust test `salus-cli/tests/fhir_clients.rs` starts a dev node and the
// gateway, then runs this with FHIR_BASE, FHIR_TOKEN and HL7_EXAMPLES set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'fhir-kit-client';

const client = new Client({ baseUrl: process.env.FHIR_BASE, bearerToken: process.env.FHIR_TOKEN });
const dir = process.env.HL7_EXAMPLES;
const lists = JSON.parse(readFileSync(new URL('./clinical-types.json', import.meta.url)));
const wanted = new Set([...lists.clinical, ...lists.financial]);

/** The resource without what the server assigns. */
function comparable(resource) {
  const copy = structuredClone(resource);
  delete copy.id;
  if (copy.meta) {
    delete copy.meta.versionId;
    delete copy.meta.lastUpdated;
    if (Object.keys(copy.meta).length === 0) delete copy.meta;
  }
  return copy;
}

test('every clinical and financial example round-trips unchanged', async () => {
  const examples = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ name, resource: JSON.parse(readFileSync(join(dir, name), 'utf8')) }))
    .filter(({ resource }) => wanted.has(resource.resourceType));
  assert.ok(examples.length >= 390, `only ${examples.length} examples found in ${dir}`);
  let checked = 0;
  for (const { name, resource } of examples) {
    const created = await client.create({ resourceType: resource.resourceType, body: resource });
    assert.equal(created.meta.versionId, '1', name);
    const read = await client.read({ resourceType: resource.resourceType, id: created.id });
    assert.deepEqual(comparable(read), comparable(resource), name);
    checked += 1;
  }
  console.log(`round-tripped ${checked} examples`);
});
