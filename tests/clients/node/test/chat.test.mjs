// Plain chat completions with the Node SDK.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { assertUpstreamAuth, client, mock, modelPath, systemInstruction, text } from './helpers.mjs';

beforeEach(() => mock.reset());

test('plain chat: content, finish_reason, usage', async () => {
  await mock.push({
    kind: 'json',
    status: 200,
    body: {
      candidates: [
        {
          content: { role: 'model', parts: [{ text: 'Answer.' }] },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 5,
        candidatesTokenCount: 153,
        thoughtsTokenCount: 869,
        totalTokenCount: 1027,
      },
    },
  });
  const completion = await client().chat.completions.create({
    model: 'gemini-2.5-flash',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Explain quantum mechanics.' },
    ],
  });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, 'gemini-2.5-flash');
  assert.equal(completion.choices[0].message.role, 'assistant');
  assert.equal(completion.choices[0].message.content, 'Answer.');
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.deepEqual(
    [completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens],
    [5, 1022, 1027],
  );
  assert.equal(completion.usage.completion_tokens_details.reasoning_tokens, 869);

  const [sent] = await mock.requests();
  assert.equal(sent.path, modelPath('gemini-2.5-flash', 'generateContent'));
  assertUpstreamAuth(sent);
  assert.deepEqual(sent.json.systemInstruction, systemInstruction('Be brief.'));
});

test('withResponse exposes headers', async () => {
  await mock.push(text('hi there'));
  const { data, response } = await client()
    .chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  assert.equal(data.choices[0].message.content, 'hi there');
});
