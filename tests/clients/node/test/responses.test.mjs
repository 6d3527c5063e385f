// The Node SDK's Responses API on Pollux: `responses.create`, `create({ stream: true })`, the
// `responses.stream()` helper with `finalResponse()`, and a Gemini 3 function-tool loop that
// replays the whole input each turn (reasoning items included) with `store: false` and
// `include: ['reasoning.encrypted_content']`, as a stateless client does. Gemini must get
// each thought signature back unchanged.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import OpenAI from 'openai';

import { client, mock, signature, signaturesSent, signedCall, text } from './helpers.mjs';

beforeEach(() => mock.reset());

const FLASH = 'gemini-2.5-flash';
const GEMINI3 = 'gemini-3-pro-preview';
const ENCRYPTED = ['reasoning.encrypted_content'];
const PARIS = { city: 'Paris' };
const TOOLS = [
  {
    type: 'function',
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
    strict: true,
  },
  {
    type: 'function',
    name: 'get_time',
    description: 'Local time in a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
    strict: true,
  },
];
const FINAL = 'It is 14:05 and sunny in Paris.';

const fakeTool = (name, args) =>
  JSON.stringify(name === 'get_weather' ? { ...args, sky: 'sunny' } : { ...args, time: '14:05' });

function assertIncreasing(events) {
  const numbers = events.map((e) => e.sequence_number);
  assert.ok(numbers.every((n) => Number.isInteger(n)), `sequence numbers: ${numbers}`);
  assert.ok(numbers.every((n, i) => i === 0 || numbers[i - 1] < n), `not increasing: ${numbers}`);
}

function assertMessage(item, text) {
  assert.equal(item.type, 'message');
  assert.match(item.id, /^msg_/);
  assert.equal(item.role, 'assistant');
  assert.equal(item.content.length, 1);
  assert.equal(item.content[0].type, 'output_text');
  assert.equal(item.content[0].text, text);
  assert.deepEqual(item.content[0].annotations, []);
}

test('responses.create: a plain answer', async () => {
  await mock.push(text('Bonjour ', '!'));
  const resp = await client().responses.create({
    model: FLASH,
    instructions: 'Answer in French.',
    input: 'Say hello.',
  });
  assert.match(resp.id, /^resp_/);
  assert.equal(resp.object, 'response');
  assert.equal(resp.status, 'completed');
  assert.equal(resp.model, FLASH);
  assert.equal(resp.output_text, 'Bonjour !');
  assert.equal(resp.output.length, 1);
  assertMessage(resp.output[0], 'Bonjour !');
  const { usage } = resp;
  assert.ok(usage.input_tokens > 0);
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  assert.equal(typeof usage.output_tokens_details.reasoning_tokens, 'number');
  assert.equal(typeof usage.input_tokens_details.cached_tokens, 'number');

  const [upstream] = await mock.requests();
  assert.equal(upstream.path, `/v1beta/models/${FLASH}:generateContent`);
  assert.deepEqual(upstream.json.systemInstruction.parts, [{ text: 'Answer in French.' }]);
});

test('responses.create({ stream: true }): event order and sequence numbers', async () => {
  const pieces = ['one ', 'two ', 'three'];
  await mock.push(text(...pieces));
  const stream = await client().responses.create({ model: FLASH, input: 'Count.', stream: true });
  const events = [];
  for await (const event of stream) events.push(event);
  assertIncreasing(events);
  assert.deepEqual(events.map((e) => e.type), [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    ...pieces.map(() => 'response.output_text.delta'),
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]);
  const deltas = events.filter((e) => e.type === 'response.output_text.delta');
  assert.deepEqual(deltas.map((d) => d.delta), pieces);
  const final = events.at(-1).response;
  assert.equal(final.id, events[0].response.id);
  assert.equal(final.status, 'completed');
  assertMessage(final.output[0], 'one two three');
  assert.equal(final.output[0].id, events[2].item.id);
});

test('responses.stream(): text events and finalResponse()', async () => {
  await mock.push(text('a', 'b', 'c'));
  const stream = client().responses.stream({ model: FLASH, input: 'Letters.' });
  const deltas = [];
  stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
  const final = await stream.finalResponse();
  assert.deepEqual(deltas, ['a', 'b', 'c']);
  assert.equal(final.output_text, 'abc');
  assert.equal(final.status, 'completed');
  const [upstream] = await mock.requests();
  assert.equal(upstream.path, `/v1beta/models/${FLASH}:streamGenerateContent`);
});

/** get_weather, then get_time, then the answer; each request replays everything so far. */
async function toolLoop({ stream, include }) {
  const sigs = [signature(`node-weather-${stream}`), signature(`node-time-${stream}`)];
  await mock.push(
    signedCall('get_weather', PARIS, sigs[0]),
    signedCall('get_time', PARIS, sigs[1]),
    text(FINAL),
  );
  const c = client();
  const input = [{ role: 'user', content: 'Weather and time in Paris?' }];
  const extra = include ? { include: ENCRYPTED } : {};
  for (let step = 0; step < 3; step++) {
    const params = { model: GEMINI3, input, tools: TOOLS, store: false, ...extra };
    let resp;
    if (stream) {
      const events = [];
      const s = c.responses.stream(params);
      for await (const e of s) events.push(e);
      assertIncreasing(events);
      resp = await s.finalResponse();
    } else {
      resp = await c.responses.create(params);
    }
    if (step === 2) {
      assert.equal(resp.output_text, FINAL);
      break;
    }
    const call = resp.output.at(-1);
    assert.equal(call.type, 'function_call');
    assert.match(call.id, /^fc_/);
    assert.ok(call.call_id);
    const reasoning = resp.output.filter((o) => o.type === 'reasoning');
    if (include) {
      assert.deepEqual(resp.output.map((o) => o.type), ['reasoning', 'function_call']);
      assert.match(reasoning[0].id, /^rs_/);
      assert.ok(reasoning[0].encrypted_content, 'include asked for encrypted_content');
    }
    // The SDK's output items go back as they came (the parsed_arguments helper field aside).
    input.push(...resp.output.map(({ parsed_arguments: _p, ...item }) => item));
    input.push({
      type: 'function_call_output',
      call_id: call.call_id,
      output: fakeTool(call.name, JSON.parse(call.arguments)),
    });
  }
  const bodies = (await mock.requests()).map((r) => r.json);
  assert.equal(bodies.length, 3);
  assert.deepEqual(signaturesSent(bodies[1]), sigs.slice(0, 1));
  assert.deepEqual(signaturesSent(bodies[2]), sigs);
  const responses = bodies[2].contents.flatMap((c) => c.parts.filter((p) => p.functionResponse));
  assert.deepEqual(responses.map((p) => p.functionResponse.name), ['get_weather', 'get_time']);
}

test('Gemini 3 tool loop with responses.create, signatures in encrypted_content', () =>
  toolLoop({ stream: false, include: true }));

test('Gemini 3 tool loop with responses.stream, signatures in encrypted_content', () =>
  toolLoop({ stream: true, include: true }));

test('Gemini 3 tool loop without include: Pollux restores the signatures itself', () =>
  toolLoop({ stream: false, include: false }));

test('a malformed input item is a 400 BadRequestError naming its path', async () => {
  await assert.rejects(
    client().responses.create({
      model: FLASH,
      input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'not a url' }] }],
    }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `not a BadRequestError: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'input[0].content[0].image_url');
      return true;
    },
  );
  assert.deepEqual(await mock.requests(), []);
});
