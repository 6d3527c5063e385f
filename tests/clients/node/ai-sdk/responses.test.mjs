// The Vercel AI SDK with `@ai-sdk/openai`'s default provider, `openai(modelId)`, which speaks
// the Responses API: generateText and streamText running a tool (zod input schema) to a final
// answer through Pollux's /v1/responses. The provider validates every response and stream
// event against its own schema and turns a mismatch into an error part, so each test asserts
// that no error occurred as well as the calls, results, text and usage.
//
// The provider sends no `store` by default and then treats the answer as stored: on the next
// step it sends an earlier assistant message (and, when `include` asked for encrypted
// reasoning, a reasoning item) back as `{"type": "item_reference", "id": "msg_…"}`, which
// Pollux resolves from the response it stored (`store` defaults to true, as on OpenAI);
// `store: false` makes the provider send items whole.
// Without `include`, Gemini 3 signatures come back from Pollux's cache by call id; with
// `store: false` and `include: ['reasoning.encrypted_content']`, in the reasoning item.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText } from 'ai';

import { mock, POLLUX_URL, SERVER_KEY, signature, signaturesSent } from '../test/helpers.mjs';
import {
  ANSWER, ARGS, assertGeneratedLoop, assertStreamedLoopParts, assertStreamedLoopResult, callPart,
  FLASH, GEMINI3, PROMPT, pushStreamedLoop, readFullStream, RESULT, streamed, upstreamToolBodies,
  USAGE_ANSWER, USAGE_CALL, weatherTools, whole,
} from './weather.mjs';

/** The requests the provider sent to Pollux in the current test: { path, body }. */
let sent = [];
beforeEach(async () => {
  sent = [];
  await mock.reset();
});

const STATELESS = { openai: { store: false, include: ['reasoning.encrypted_content'] } };

const openai = createOpenAI({
  baseURL: POLLUX_URL,
  apiKey: SERVER_KEY,
  fetch: async (url, init) => {
    sent.push({ path: new URL(url).pathname, body: JSON.parse(init.body) });
    return fetch(url, init);
  },
});

/** Both requests went to /v1/responses; the second replays the call and its output. */
function assertSentResponses() {
  assert.equal(sent.length, 2);
  assert.ok(sent.every((r) => r.path.endsWith('/responses')), sent.map((r) => r.path).join());
  assert.ok(sent.every((r) => r.body.previous_response_id === undefined));
  const types = sent[1].body.input.map((i) => i.type ?? 'message');
  assert.ok(types.includes('function_call') && types.includes('function_call_output'), types.join());
  const output = sent[1].body.input.find((i) => i.type === 'function_call_output');
  const call = sent[1].body.input.find((i) => i.type === 'function_call');
  assert.equal(output.call_id, call.call_id);
  assert.deepEqual(JSON.parse(call.arguments), ARGS);
}

/** The second upstream request carries the model's call and the tool's functionResponse. */
async function assertUpstreamToolTurn(method) {
  const [first, second] = await upstreamToolBodies(method);
  const modelTurn = second.contents.find((c) => c.role === 'model');
  assert.deepEqual(modelTurn.parts.find((p) => p.functionCall).functionCall, {
    name: 'getWeather',
    args: ARGS,
  });
  const resultTurn = second.contents.at(-1);
  assert.equal(resultTurn.role, 'user');
  assert.deepEqual(resultTurn.parts.map((p) => p.functionResponse), [
    { name: 'getWeather', response: RESULT },
  ]);
  return [first, second];
}

async function generateWithTool(modelId, providerOptions) {
  const runs = [];
  const result = await generateText({
    model: openai(modelId),
    tools: weatherTools(runs),
    stopWhen: stepCountIs(3),
    prompt: PROMPT,
    maxRetries: 0,
    ...(providerOptions ? { providerOptions } : {}),
  });
  return { result, runs };
}

async function streamWithTool(modelId, providerOptions) {
  const runs = [];
  const errors = [];
  const result = streamText({
    model: openai(modelId),
    tools: weatherTools(runs),
    stopWhen: stepCountIs(3),
    prompt: PROMPT,
    maxRetries: 0,
    onError: ({ error }) => errors.push(error),
    ...(providerOptions ? { providerOptions } : {}),
  });
  const parts = await readFullStream(result, errors);
  return { result, runs, parts };
}

test('openai(model) is the Responses model', () => {
  assert.equal(openai(FLASH).provider, 'openai.responses');
});

test('generateText runs a tool to a final answer', async () => {
  await mock.push(whole([callPart()], USAGE_CALL), whole([{ text: ANSWER }], USAGE_ANSWER));
  const { result, runs } = await generateWithTool(FLASH);

  const [step1, step2] = assertGeneratedLoop(result, runs);
  assert.deepEqual(step1.toolResults.map((r) => [r.toolCallId, r.output]), [
    [step1.toolCalls[0].toolCallId, RESULT],
  ]);
  assert.match(step2.response.id, /^resp_/);
  assert.equal(result.totalUsage.totalTokens, 82 + 85);

  assertSentResponses();
  assert.ok(sent.every((r) => !r.body.stream));
  await assertUpstreamToolTurn('generateContent');
});

test('streamText runs a tool to a final answer; every event passes the SDK schema', async () => {
  await pushStreamedLoop();
  const { result, runs, parts } = await streamWithTool(FLASH);

  assertStreamedLoopParts(parts);
  assert.equal(parts.at(-1).type, 'finish');
  await assertStreamedLoopResult(result, runs);

  assertSentResponses();
  assert.ok(sent.every((r) => r.body.stream === true));
  await assertUpstreamToolTurn('streamGenerateContent');
});

test('generateText on Gemini 3 with the default store: true: the signature survives', async () => {
  const sig = signature('ai-sdk-responses');
  await mock.push(
    whole([callPart({ thoughtSignature: sig })], USAGE_CALL),
    whole([{ text: ANSWER }], USAGE_ANSWER),
  );
  const { result, runs } = await generateWithTool(GEMINI3);
  assert.equal(result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  assertSentResponses();
  const [, second] = await assertUpstreamToolTurn('generateContent');
  assert.deepEqual(signaturesSent(second), [sig]);
});

test('streamText on Gemini 3, store: false with encrypted reasoning: the signature survives', async () => {
  const sig = signature('ai-sdk-responses-stream');
  await mock.push(
    streamed([[callPart({ thoughtSignature: sig })]], USAGE_CALL),
    streamed([[{ text: 'It is 21 °C ' }], [{ text: 'and sunny in Paris.' }]], USAGE_ANSWER),
  );
  const { result, runs } = await streamWithTool(GEMINI3, STATELESS);
  assert.equal(await result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  assertSentResponses();
  assert.ok(sent.every((r) => r.body.store === false));
  const reasoning = sent[1].body.input.filter((i) => i.type === 'reasoning');
  assert.equal(reasoning.length, 1, JSON.stringify(sent[1].body.input));
  assert.ok(reasoning[0].encrypted_content, 'the reasoning item came back with its content');
  const [, second] = await assertUpstreamToolTurn('streamGenerateContent');
  assert.deepEqual(signaturesSent(second), [sig]);
});

/** Gemini 3 writes a sentence, then calls the tool (one signed call), then answers. */
async function textThenCall(sig) {
  await mock.push(
    whole([{ text: 'Let me check. ' }, callPart({ thoughtSignature: sig })], USAGE_CALL),
    whole([{ text: ANSWER }], USAGE_ANSWER),
  );
}

test('text before the call with store: false: the message goes back whole', async () => {
  const sig = signature('ai-sdk-text-first');
  await textThenCall(sig);
  const { result, runs } = await generateWithTool(GEMINI3, { openai: { store: false } });
  assert.equal(result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  assertSentResponses();
  const replayed = sent[1].body.input.find((i) => i.role === 'assistant');
  assert.deepEqual(replayed.content, [{ type: 'output_text', text: 'Let me check. ' }]);
  const [, second] = await assertUpstreamToolTurn('generateContent');
  const modelTurn = second.contents.find((c) => c.role === 'model');
  assert.equal(modelTurn.parts[0].text, 'Let me check. ');
  assert.deepEqual(signaturesSent(second), [sig]);
});

// The provider's default store: the second step sends {"type": "item_reference", "id": "msg_…"}
// for the text of step one, and Pollux resolves it from the response it stored.
test('text before the call with the default store: item_reference to the message', async () => {
  const sig = signature('ai-sdk-text-first-default');
  await textThenCall(sig);
  const { result, runs } = await generateWithTool(GEMINI3);
  assert.equal(result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  assertSentResponses();
  assert.ok(sent.every((r) => r.body.store === undefined), 'the provider sent no store');
  const reference = sent[1].body.input[1];
  assert.equal(reference.type, 'item_reference');
  const [step1] = result.steps;
  assert.equal(reference.id, step1.response.body.output.find((o) => o.type === 'message').id);
  const [, second] = await assertUpstreamToolTurn('generateContent');
  const modelTurn = second.contents.find((c) => c.role === 'model');
  assert.equal(modelTurn.parts[0].text, 'Let me check. ');
  assert.deepEqual(signaturesSent(second), [sig]);
});
