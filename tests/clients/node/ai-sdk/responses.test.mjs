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
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

import { mock, POLLUX_URL, SERVER_KEY, signature, signaturesSent } from '../test/helpers.mjs';

/** The requests the provider sent to Pollux in the current test: { path, body }. */
let sent = [];
beforeEach(async () => {
  sent = [];
  await mock.reset();
});

const FLASH = 'gemini-2.5-flash';
const GEMINI3 = 'gemini-3-pro-preview';
const PROMPT = 'What is the weather in Paris?';
const ARGS = { city: 'Paris', unit: 'celsius' };
const RESULT = { city: 'Paris', temperature: 21, unit: 'celsius', sky: 'sunny' };
const ANSWER = 'It is 21 °C and sunny in Paris.';
const STATELESS = { openai: { store: false, include: ['reasoning.encrypted_content'] } };

const openai = createOpenAI({
  baseURL: POLLUX_URL,
  apiKey: SERVER_KEY,
  fetch: async (url, init) => {
    sent.push({ path: new URL(url).pathname, body: JSON.parse(init.body) });
    return fetch(url, init);
  },
});

function weatherTools(runs) {
  return {
    getWeather: tool({
      description: 'Current weather for a city.',
      inputSchema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }),
      execute: async (input) => {
        runs.push(input);
        return { ...RESULT, city: input.city, unit: input.unit };
      },
    }),
  };
}

const USAGE_CALL = {
  promptTokenCount: 40,
  candidatesTokenCount: 12,
  thoughtsTokenCount: 30,
  totalTokenCount: 82,
};
const USAGE_ANSWER = { promptTokenCount: 70, candidatesTokenCount: 15, totalTokenCount: 85 };

const candidate = (parts, finishReason) => ({
  content: { role: 'model', parts },
  index: 0,
  ...(finishReason ? { finishReason } : {}),
});
const whole = (parts, usageMetadata) => ({
  kind: 'json',
  body: { candidates: [candidate(parts, 'STOP')], usageMetadata },
});
const streamed = (partsPerEvent, usageMetadata) => ({
  kind: 'stream',
  steps: partsPerEvent.map((parts, i) => {
    const last = i === partsPerEvent.length - 1;
    const event = { candidates: [candidate(parts, last ? 'STOP' : undefined)] };
    return { event: last ? { ...event, usageMetadata } : event };
  }),
});
const callPart = (extra = {}) => ({ functionCall: { name: 'getWeather', args: ARGS }, ...extra });

function assertStepUsage(usage, gemini) {
  const thoughts = gemini.thoughtsTokenCount ?? 0;
  assert.equal(usage.inputTokens, gemini.promptTokenCount);
  assert.equal(usage.outputTokens, gemini.candidatesTokenCount + thoughts);
  assert.equal(usage.totalTokens, gemini.totalTokenCount);
  assert.equal(usage.outputTokenDetails.reasoningTokens, thoughts);
}

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
  const requests = await mock.requests();
  assert.equal(requests.length, 2);
  for (const r of requests) assert.match(r.path, new RegExp(`:${method}$`));
  const [first, second] = requests.map((r) => r.json);
  const [declaration] = first.tools[0].functionDeclarations;
  assert.equal(declaration.name, 'getWeather');
  assert.deepEqual(Object.keys(declaration.parametersJsonSchema.properties).sort(), ['city', 'unit']);
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
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  assert.deepEqual(parts.filter((p) => p.type === 'error').map((p) => String(p.error)), []);
  assert.deepEqual(errors.map(String), []);
  return { result, runs, parts };
}

test('openai(model) is the Responses model', () => {
  assert.equal(openai(FLASH).provider, 'openai.responses');
});

test('generateText runs a tool to a final answer', async () => {
  await mock.push(whole([callPart()], USAGE_CALL), whole([{ text: ANSWER }], USAGE_ANSWER));
  const { result, runs } = await generateWithTool(FLASH);

  assert.equal(result.text, ANSWER);
  assert.equal(result.finishReason, 'stop');
  assert.deepEqual(runs, [ARGS]);
  assert.equal(result.steps.length, 2);
  const [step1, step2] = result.steps;
  assert.equal(step1.finishReason, 'tool-calls');
  assert.deepEqual(step1.toolCalls.map((c) => [c.toolName, c.input]), [['getWeather', ARGS]]);
  assert.ok(step1.toolCalls[0].toolCallId);
  assert.deepEqual(step1.toolResults.map((r) => [r.toolCallId, r.output]), [
    [step1.toolCalls[0].toolCallId, RESULT],
  ]);
  assert.equal(step2.text, ANSWER);
  assert.equal(step2.response.modelId, FLASH);
  assert.match(step2.response.id, /^resp_/);
  assertStepUsage(step1.usage, USAGE_CALL);
  assertStepUsage(step2.usage, USAGE_ANSWER);
  assert.equal(result.totalUsage.totalTokens, 82 + 85);

  assertSentResponses();
  assert.ok(sent.every((r) => !r.body.stream));
  await assertUpstreamToolTurn('generateContent');
});

test('streamText runs a tool to a final answer; every event passes the SDK schema', async () => {
  await mock.push(
    streamed([[callPart()]], USAGE_CALL),
    streamed(['It is 21 °C ', 'and sunny ', 'in Paris.'].map((t) => [{ text: t }]), USAGE_ANSWER),
  );
  const { result, runs, parts } = await streamWithTool(FLASH);

  const calls = parts.filter((p) => p.type === 'tool-call');
  assert.deepEqual(calls.map((c) => [c.toolName, c.input]), [['getWeather', ARGS]]);
  const results = parts.filter((p) => p.type === 'tool-result');
  assert.deepEqual(results.map((r) => [r.toolCallId, r.output]), [[calls[0].toolCallId, RESULT]]);
  const deltas = parts.filter((p) => p.type === 'text-delta').map((p) => p.text);
  assert.deepEqual(deltas, ['It is 21 °C ', 'and sunny ', 'in Paris.']);
  const stepEnds = parts.filter((p) => p.type === 'finish-step');
  assert.deepEqual(stepEnds.map((p) => p.finishReason), ['tool-calls', 'stop']);
  assert.equal(parts.at(-1).type, 'finish');
  assert.equal(await result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  const steps = await result.steps;
  assertStepUsage(steps[0].usage, USAGE_CALL);
  assertStepUsage(steps[1].usage, USAGE_ANSWER);

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
