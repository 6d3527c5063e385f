// The routes around chat with the Node SDK: models and embeddings.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import OpenAI from 'openai';

import { client, mock } from './helpers.mjs';

beforeEach(() => mock.reset());

test('models.list() pages through every model', async () => {
  const ids = [];
  for await (const model of client().models.list()) ids.push(model.id);
  assert.ok(ids.includes('gemini-2.5-flash'), ids.join(','));
  assert.ok(!ids.some((id) => id.startsWith('models/')));
  await assert.rejects(client().models.retrieve('gemini-0-nonexistent'), OpenAI.NotFoundError);
});

test('embeddings.create() with dimensions, order kept', async () => {
  const out = await client().embeddings.create({
    model: 'gemini-embedding-001',
    input: ['alpha', 'beta', 'alpha'],
    dimensions: 12,
  });
  assert.deepEqual(out.data.map((d) => d.index), [0, 1, 2]);
  assert.ok(out.data.every((d) => d.embedding.length === 12));
  assert.deepEqual(out.data[0].embedding, out.data[2].embedding);
  assert.notDeepEqual(out.data[0].embedding, out.data[1].embedding);
});
