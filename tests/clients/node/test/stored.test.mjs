// The Node SDK on Pollux's stored responses (issue 16): `store` defaults to true, so a response
// can be continued by `previous_response_id`, read back with `responses.retrieve`, deleted
// with `responses.delete`, listed by its input items and counted with
// `responses.inputTokens.count`. The Gemini 3 chain sends only each new function output and
// the previous id: the signatures Gemini issued must come back from what Pollux stored
// (mock-gemini checks them), never as the skip value.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import OpenAI from 'openai';

import { client, mock, signature, signaturesSent, signedCall, text } from './helpers.mjs';

beforeEach(() => mock.reset());

const FLASH = 'gemini-2.5-flash';
const GEMINI3 = 'gemini-3-pro-preview';
const PARIS = { city: 'Paris' };
const tool = (name, description) => ({
  type: 'function',
  name,
  description,
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
});
const TOOLS = [
  tool('get_weather', 'Current weather for a city.'),
  tool('get_time', 'Local time in a city.'),
];
const RESULTS = {
  get_weather: { city: 'Paris', temperature: 21, sky: 'sunny' },
  get_time: { city: 'Paris', time: '14:05' },
};
const FINAL = 'It is 14:05 and sunny in Paris.';

const bodies = async () => (await mock.requests()).map((r) => r.json);

/** (role, joined text) of each upstream content that has text. */
const contentsText = (body) =>
  body.contents
    .map((c) => [c.role, c.parts.map((p) => p.text ?? '').join('')])
    .filter(([, t]) => t);

async function assertNotFound(promise, param) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, `not a NotFoundError: ${err}`);
    assert.equal(err.status, 404);
    if (param !== undefined) assert.equal(err.param, param);
    return true;
  });
}

test('responses.create chained by previous_response_id: Gemini gets the conversation', async () => {
  await mock.push(text('Paris.'), text('About 2.1 million.'));
  const c = client();
  const first = await c.responses.create({
    model: FLASH,
    instructions: 'Be brief.',
    input: 'Capital of France?',
  });
  const second = await c.responses.create({
    model: FLASH,
    previous_response_id: first.id,
    input: 'Its population?',
  });
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.output_text, 'About 2.1 million.');
  const [one, two] = await bodies();
  assert.deepEqual(one.systemInstruction.parts, [{ text: 'Be brief.' }]);
  assert.equal(two.systemInstruction, undefined, 'instructions do not carry over');
  assert.deepEqual(contentsText(two), [
    ['user', 'Capital of France?'],
    ['model', 'Paris.'],
    ['user', 'Its population?'],
  ]);
});

/** Three turns on Gemini 3 chained by id, each after the first sending only its tool output. */
async function chain({ stream }) {
  const sigs = [signature(`node-chain-weather-${stream}`), signature(`node-chain-time-${stream}`)];
  await mock.push(
    signedCall('get_weather', PARIS, sigs[0]),
    signedCall('get_time', PARIS, sigs[1]),
    text('It is 14:05 ', 'and sunny in Paris.'),
  );
  const c = client();
  let input = 'Weather and time in Paris?';
  let previous;
  const responses = [];
  for (let step = 0; step < 3; step++) {
    const params = {
      model: GEMINI3,
      input,
      tools: TOOLS,
      ...(previous ? { previous_response_id: previous } : {}),
    };
    let resp;
    if (stream) {
      const events = [];
      for await (const e of await c.responses.create({ ...params, stream: true })) events.push(e);
      assert.equal(events.at(-1).type, 'response.completed');
      resp = events.at(-1).response;
    } else {
      resp = await c.responses.create(params);
    }
    assert.equal(resp.status, 'completed');
    assert.equal(resp.previous_response_id ?? undefined, previous);
    responses.push(resp);
    if (step === 2) break;
    const call = resp.output.find((o) => o.type === 'function_call');
    input = [
      {
        type: 'function_call_output',
        call_id: call.call_id,
        output: JSON.stringify(RESULTS[call.name]),
      },
    ];
    previous = resp.id;
  }
  const sent = await bodies();
  assert.equal(sent.length, 3);
  assert.deepEqual(signaturesSent(sent[1]), sigs.slice(0, 1));
  assert.deepEqual(signaturesSent(sent[2]), sigs);
  assert.ok(!JSON.stringify(sent).includes('skip_thought_signature_validator'));
  assert.deepEqual(sent[2].contents.map((c) => c.role), ['user', 'model', 'user', 'model', 'user']);
  const fr = sent[2].contents.flatMap((c) => c.parts.filter((p) => p.functionResponse));
  assert.deepEqual(
    fr.map((p) => [p.functionResponse.name, p.functionResponse.response]),
    [['get_weather', RESULTS.get_weather], ['get_time', RESULTS.get_time]],
  );
  const last = await c.responses.retrieve(responses[2].id);
  assert.equal(last.output_text, FINAL);
}

test('Gemini 3 tool chain by previous_response_id with responses.create', () =>
  chain({ stream: false }));

test('Gemini 3 tool chain by previous_response_id, streamed', () => chain({ stream: true }));

test('responses.retrieve returns what create returned', async () => {
  await mock.push(text('Bonjour ', '!'));
  const c = client();
  const created = await c.responses.create({
    model: FLASH,
    input: 'Say hello.',
    metadata: { k: 'v' },
  });
  const got = await c.responses.retrieve(created.id);
  assert.deepEqual(got, created);
  assert.equal(got.output_text, 'Bonjour !');
  assert.equal((await mock.requests()).length, 1, 'retrieve does not call Gemini');
});

test('responses.delete, then retrieve, delete and chaining are 404s', async () => {
  await mock.push(text('Short-lived.'));
  const c = client();
  const created = await c.responses.create({ model: FLASH, input: 'Hi.' });
  const { data, response } = await c.responses.delete(created.id).withResponse();
  assert.equal(response.status, 200);
  // Typed void in the SDK; the body is OpenAI's deletion object.
  assert.deepEqual(data, { id: created.id, object: 'response', deleted: true });
  await assertNotFound(c.responses.retrieve(created.id));
  await assertNotFound(c.responses.delete(created.id));
  await assertNotFound(
    c.responses.create({ model: FLASH, input: 'Next.', previous_response_id: created.id }),
    'previous_response_id',
  );
  assert.equal((await mock.requests()).length, 1);
});

test('an unknown previous_response_id is a 404 NotFoundError on previous_response_id', async () => {
  await assertNotFound(
    client().responses.create({ model: FLASH, input: 'Hi.', previous_response_id: 'resp_unknown' }),
    'previous_response_id',
  );
  assert.deepEqual(await mock.requests(), []);
});

test('responses.inputItems.list pages through the input', async () => {
  await mock.push(text('3'));
  const c = client();
  const questions = ['One?', 'Two?', 'Three?', 'Four?', 'Five?'];
  const created = await c.responses.create({
    model: FLASH,
    input: questions.map((q) => ({ role: 'user', content: q })),
  });
  const page = await c.responses.inputItems.list(created.id, { limit: 2, order: 'asc' });
  assert.deepEqual(page.data.map((i) => i.content[0].text), questions.slice(0, 2));
  assert.equal(page.has_more, true);
  const all = [];
  for await (const item of c.responses.inputItems.list(created.id, { limit: 2 })) all.push(item);
  assert.deepEqual(all.map((i) => i.content[0].text), [...questions].reverse());
  assert.equal(new Set(all.map((i) => i.id)).size, questions.length);
});

test('responses.inputTokens.count counts what a create would send', async () => {
  const c = client();
  const params = { model: FLASH, instructions: 'Be brief.', input: 'How long is this question?' };
  const counted = await c.responses.inputTokens.count(params);
  assert.equal(counted.object, 'response.input_tokens');
  assert.ok(counted.input_tokens > 0);
  const [upstream] = await mock.requests();
  assert.equal(upstream.path, `/v1beta/models/${FLASH}:countTokens`);
  await mock.push(text('Short.'));
  const resp = await c.responses.create(params);
  assert.equal(resp.usage.input_tokens, counted.input_tokens);
});
