// Streaming with the Node SDK: `for await` over `stream: true`, and the
// `chat.completions.stream()` helper's events and `finalChatCompletion()`.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { assertUpstreamAuth, client, mock, modelPath, text } from './helpers.mjs';

beforeEach(() => mock.reset());

const MESSAGES = [{ role: 'user', content: 'Say hello.' }];

test('for await over stream: true, with usage', async () => {
  await mock.push(text('Hel', 'lo ', 'wörld 🌍'));
  const stream = await client().chat.completions.create({
    model: 'gemini-2.5-flash',
    messages: MESSAGES,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const usageChunk = chunks.at(-1);
  const body = chunks.slice(0, -1);
  assert.deepEqual(usageChunk.choices, []);
  assert.equal(usageChunk.usage.total_tokens, usageChunk.usage.prompt_tokens + usageChunk.usage.completion_tokens);
  assert.equal(body.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello wörld 🌍');
  assert.deepEqual(body.filter((c) => c.choices[0].delta.role).map((c) => c.choices[0].delta.role), ['assistant']);
  assert.deepEqual(body.map((c) => c.choices[0].finish_reason).filter(Boolean), ['stop']);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
});

test('chat.completions.stream() helper: content events and finalChatCompletion()', async () => {
  await mock.push(text('one ', 'two ', 'three'));
  const stream = client().chat.completions.stream({ model: 'gemini-2.5-flash', messages: MESSAGES });
  const deltas = [];
  stream.on('content', (delta) => deltas.push(delta));
  const final = await stream.finalChatCompletion();
  assert.equal(deltas.join(''), 'one two three');
  assert.equal(final.choices[0].message.content, 'one two three');
  assert.equal(final.choices[0].message.role, 'assistant');
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(await stream.finalContent(), 'one two three');
  const [sent] = await mock.requests();
  assert.equal(sent.path, modelPath('gemini-2.5-flash', 'streamGenerateContent'));
  assertUpstreamAuth(sent);
  assert.equal(sent.query, 'alt=sse');
});

test('stream helper iterated with for await', async () => {
  await mock.push(text('a', 'b', 'c'));
  const stream = client().chat.completions.stream({ model: 'gemini-2.5-flash', messages: MESSAGES });
  let content = '';
  for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(content, 'abc');
  assert.equal((await stream.finalChatCompletion()).choices[0].message.content, 'abc');
});

test('a failure after the 200 surfaces as an APIError while iterating', async () => {
  await mock.push({
    kind: 'answer',
    chunks: [[{ text: 'Partial ' }], [{ text: 'answer' }]],
    fail: { error: { code: 500, message: 'An internal error has occurred.', status: 'INTERNAL' } },
  });
  const stream = await client().chat.completions.create({ model: 'gemini-2.5-flash', messages: MESSAGES, stream: true });
  let content = '';
  await assert.rejects(
    async () => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
    },
    (err) => {
      assert.ok(err instanceof Error, String(err));
      assert.match(err.message, /internal error/i);
      return true;
    },
  );
  assert.equal(content, 'Partial answer');
});
