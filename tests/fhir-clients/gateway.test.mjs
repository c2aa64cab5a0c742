// A patient's Salus gateway driven by fhir-kit-client as an EHR would drive a
// FHIR server, with assertions on what the client library parsed (checked with
// HL7's fhirpath.js), and the headers checked with plain HTTP as well.
//
// The Rust test `salus-cli/tests/fhir_clients.rs` starts a dev node and the
// gateway, then runs this with FHIR_BASE and FHIR_TOKEN set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from 'fhir-kit-client';
import fhirpath from 'fhirpath';
import fhirpathR4 from 'fhirpath/fhir-context/r4';

const base = process.env.FHIR_BASE;
const token = process.env.FHIR_TOKEN;
const client = new Client({ baseUrl: base, bearerToken: token });
const path = (resource, expression) => fhirpath.evaluate(resource, expression, null, fhirpathR4);

const loinc = (code, display) => ({ coding: [{ system: 'http://loinc.org', code, display }] });

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (error) {
    return error.response?.status ?? error.status ?? 0;
  }
}

test('an EHR writes, searches, updates, transacts and deletes through the gateway', async () => {
  const capability = await client.capabilityStatement();
  assert.equal(capability.fhirVersion, '4.0.1');
  assert.ok(path(capability, "rest.resource.where(type='Observation').interaction.code").includes('search-type'));

  const patient = await client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', name: [{ family: 'Nakamura', given: ['Aiko'] }], birthDate: '1961-04-02' },
  });
  assert.equal(patient.meta.versionId, '1');
  const subject = { reference: `Patient/${patient.id}` };

  const pulse = await client.create({
    resourceType: 'Observation',
    body: { resourceType: 'Observation', status: 'final', code: loinc('8867-4', 'Heart rate'), subject,
      effectiveDateTime: '2026-02-01T08:00:00Z', valueQuantity: { value: 64, unit: '/min' } },
  });
  await client.create({
    resourceType: 'Observation',
    body: { resourceType: 'Observation', status: 'final', code: loinc('4548-4', 'HbA1c'), subject,
      effectiveDateTime: '2026-03-15', valueQuantity: { value: 6.70, unit: '%' } },
  });
  await client.create({
    resourceType: 'Condition',
    body: { resourceType: 'Condition', subject, recordedDate: '2026-03-16',
      code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }] },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] } },
  });
  await client.create({
    resourceType: 'Immunization',
    body: { resourceType: 'Immunization', status: 'completed', patient: subject, occurrenceDateTime: '2025-10-01',
      vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140' }] } },
  });

  // Search by code and by date, as the client parses it.
  const hba1c = await client.search({ resourceType: 'Observation', searchParams: { code: 'http://loinc.org|4548-4' } });
  assert.equal(hba1c.total, 1);
  assert.deepEqual(path(hba1c, 'entry.resource.valueQuantity.value'), [6.7]);
  const recent = await client.search({ resourceType: 'Observation', searchParams: { date: 'ge2026-03-01', patient: `Patient/${patient.id}` } });
  assert.deepEqual(path(recent, 'entry.resource.code.coding.code'), ['4548-4']);
  const sorted = await client.search({ resourceType: 'Observation', searchParams: { _sort: '-date', _count: '1' } });
  assert.equal(sorted.total, 2);
  const second = await client.nextPage({ bundle: sorted });
  assert.deepEqual(path(second, 'entry.resource.code.coding.code'), ['8867-4']);
  const conditions = await client.search({ resourceType: 'Condition', searchParams: { code: '44054006', _include: 'Condition:subject' } });
  assert.deepEqual(path(conditions, "entry.where(search.mode='include').resource.name.family"), ['Nakamura']);
  const vaccines = await client.search({ resourceType: 'Immunization', searchParams: { 'vaccine-code': '140', date: 'lt2026' } });
  assert.equal(vaccines.total, 1);

  // Update with If-Match; a stale version is refused with 412.
  const changed = { ...pulse, valueQuantity: { value: 66, unit: '/min' } };
  const updated = await client.update({ resourceType: 'Observation', id: pulse.id, body: changed,
    options: { headers: { 'If-Match': 'W/"1"' } } });
  assert.equal(updated.meta.versionId, '2');
  assert.equal(await status(client.update({ resourceType: 'Observation', id: pulse.id, body: changed,
    options: { headers: { 'If-Match': 'W/"1"' } } })), 412);
  const first = await client.vread({ resourceType: 'Observation', id: pulse.id, version: '1' });
  assert.equal(first.valueQuantity.value, 64);
  const history = await client.history({ resourceType: 'Observation', id: pulse.id });
  assert.deepEqual(path(history, 'entry.resource.meta.versionId'), ['2', '1']);

  // A transaction Bundle with urn:uuid references.
  const response = await client.transaction({
    body: { resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:0b1e9c55-0d6e-4f0a-9e53-3d1a8f7a2c11',
        resource: { resourceType: 'Encounter', status: 'finished', subject,
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          period: { start: '2026-03-15T09:00:00Z', end: '2026-03-15T09:30:00Z' } },
        request: { method: 'POST', url: 'Encounter' } },
      { resource: { resourceType: 'Procedure', status: 'completed', subject,
          encounter: { reference: 'urn:uuid:0b1e9c55-0d6e-4f0a-9e53-3d1a8f7a2c11' },
          code: { coding: [{ system: 'http://snomed.info/sct', code: '386053000' }] }, performedDateTime: '2026-03-15' },
        request: { method: 'POST', url: 'Procedure' } },
    ] },
  });
  assert.equal(response.type, 'transaction-response');
  assert.deepEqual(path(response, 'entry.response.status'), ['201 Created', '201 Created']);
  const encounterId = response.entry[0].resource.id;
  const procedures = await client.search({ resourceType: 'Procedure', searchParams: { code: '386053000' } });
  assert.equal(path(procedures, 'entry.resource.encounter.reference')[0], `Encounter/${encounterId}`);

  // Delete is erasure: the patient's key may, and then the resource is gone.
  await client.delete({ resourceType: 'Observation', id: pulse.id });
  assert.equal(await status(client.read({ resourceType: 'Observation', id: pulse.id })), 410);
  const left = await client.search({ resourceType: 'Observation', searchParams: {} });
  assert.equal(left.total, 1);
});

test('the headers are the specification\'s, checked with plain HTTP', async () => {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const body = JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'urn:example:mrn', value: 'MRN-7' }] });
  const created = await fetch(`${base}/Patient`, { method: 'POST', headers, body });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('etag'), 'W/"1"');
  assert.match(created.headers.get('content-type'), /^application\/fhir\+json/);
  const id = (await created.json()).id;
  assert.ok(created.headers.get('location').endsWith(`/Patient/${id}/_history/1`));

  // Conditional create: a second create with If-None-Exist finds the first.
  const again = await fetch(`${base}/Patient`, { method: 'POST', body,
    headers: { ...headers, 'If-None-Exist': 'identifier=urn:example:mrn|MRN-7' } });
  assert.equal(again.status, 200);
  assert.equal((await again.json()).id, id);

  const stale = await fetch(`${base}/Patient/${id}`, { method: 'PUT',
    headers: { ...headers, 'If-Match': 'W/"9"' }, body: JSON.stringify({ ...JSON.parse(body), id }) });
  assert.equal(stale.status, 412);
  assert.equal((await stale.json()).resourceType, 'OperationOutcome');

  const anonymous = await fetch(`${base}/Patient/${id}`);
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).resourceType, 'OperationOutcome');
});
