// The Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`) on Pollux: generateText and
// streamText running a tool (zod input schema) to a final answer. The provider validates every
// response and stream chunk against its own schema and turns a mismatch into an error part, so
// each test asserts that no error occurred as well as the calls, results, text and usage.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

import { geminiError, mock, POLLUX_URL, SERVER_KEY } from '../test/helpers.mjs';

/** The JSON bodies the SDK posted to Pollux in the current test. */
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

const pollux = createOpenAICompatible({
  name: 'pollux',
  baseURL: POLLUX_URL,
  apiKey: SERVER_KEY,
  includeUsage: true,
  fetch: async (url, init) => {
    sent.push(JSON.parse(init.body));
    return fetch(url, init);
  },
});

/** The weather tool; `runs` collects the inputs it was executed with. */
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

// Gemini's usage per step: thoughts are counted apart from candidates; Pollux reports them
// inside completion_tokens as reasoning tokens.
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

/** One whole generateContent body. */
const whole = (parts, usageMetadata) => ({
  kind: 'json',
  body: { candidates: [candidate(parts, 'STOP')], usageMetadata },
});

/** A streamed answer: one event per parts list, usage on the last (finishing) event. */
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

function assertTotalUsage(usage) {
  assert.equal(usage.inputTokens, 40 + 70);
  assert.equal(usage.outputTokens, 42 + 15);
  assert.equal(usage.totalTokens, 82 + 85);
}

/** The second upstream request carries the model's call and the tool's functionResponse. */
async function assertUpstreamToolTurn(method) {
  const requests = await mock.requests();
  assert.equal(requests.length, 2);
  for (const r of requests) assert.match(r.path, new RegExp(`:${method}$`));
  const [first, second] = requests.map((r) => r.json);
  const [declaration] = first.tools[0].functionDeclarations;
  assert.equal(declaration.name, 'getWeather');
  const properties = Object.keys(declaration.parametersJsonSchema.properties);
  assert.deepEqual(properties.sort(), ['city', 'unit']);
  const [, modelTurn, resultTurn] = second.contents;
  assert.equal(modelTurn.role, 'model');
  assert.deepEqual(modelTurn.parts[0].functionCall, { name: 'getWeather', args: ARGS });
  assert.equal(resultTurn.role, 'user');
  assert.deepEqual(resultTurn.parts.map((p) => p.functionResponse), [
    { name: 'getWeather', response: RESULT },
  ]);
  return [first, second];
}

/** generateText with the weather tool, up to three steps; `runs` are the tool's inputs. */
async function generateWithTool(modelId, prompt = PROMPT) {
  const runs = [];
  const result = await generateText({
    model: pollux.chatModel(modelId),
    tools: weatherTools(runs),
    stopWhen: stepCountIs(3),
    prompt,
  });
  return { result, runs };
}

/**
 * streamText likewise, its full stream read to the end. The provider reports a chunk that
 * fails its schema as an error part (and to onError) rather than throwing, so this asserts
 * there was none.
 */
async function streamWithTool(modelId, prompt = PROMPT) {
  const runs = [];
  const errors = [];
  const result = streamText({
    model: pollux.chatModel(modelId),
    tools: weatherTools(runs),
    stopWhen: stepCountIs(3),
    prompt,
    onError: ({ error }) => errors.push(error),
  });
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  assert.deepEqual(parts.filter((p) => p.type === 'error').map((p) => String(p.error)), []);
  assert.deepEqual(errors.map(String), []);
  return { result, runs, parts };
}

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
  assert.deepEqual(step1.toolResults.map((r) => [r.toolName, r.toolCallId, r.output]), [
    ['getWeather', step1.toolCalls[0].toolCallId, RESULT],
  ]);
  assert.equal(step2.text, ANSWER);
  assert.equal(step2.response.modelId, FLASH);

  assertStepUsage(step1.usage, USAGE_CALL);
  assertStepUsage(step2.usage, USAGE_ANSWER);
  assertStepUsage(result.usage, USAGE_ANSWER);
  assertTotalUsage(result.totalUsage);

  assert.deepEqual(sent.map((b) => b.messages.map((m) => m.role)), [
    ['user'],
    ['user', 'assistant', 'tool'],
  ]);
  assert.ok(sent.every((b) => !b.stream));
  await assertUpstreamToolTurn('generateContent');
});

test('streamText runs a tool to a final answer; every chunk passes the SDK schema', async () => {
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
  const finish = parts.at(-1);
  assert.equal(finish.type, 'finish');
  assert.equal(finish.finishReason, 'stop');
  assertTotalUsage(finish.totalUsage);

  assert.equal(await result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  const steps = await result.steps;
  assertStepUsage(steps[0].usage, USAGE_CALL);
  assertStepUsage(steps[1].usage, USAGE_ANSWER);
  assertTotalUsage(await result.totalUsage);

  assert.ok(sent.every((b) => b.stream && b.stream_options?.include_usage === true));
  await assertUpstreamToolTurn('streamGenerateContent');
});

test('generateText on a Gemini 3 model: the thought signature survives the tool loop', async () => {
  const signature = Buffer.from('scripted-signature:ai-sdk').toString('base64');
  await mock.push(
    whole([callPart({ thoughtSignature: signature })], USAGE_CALL),
    whole([{ text: ANSWER }], USAGE_ANSWER),
  );
  const { result, runs } = await generateWithTool(GEMINI3);
  assert.equal(result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  // The provider sends the assistant tool call back without Google's extra_content; Pollux
  // restores the signature it issued for that call id.
  const assistant = sent[1].messages.find((m) => m.role === 'assistant');
  assert.equal(assistant.tool_calls[0].extra_content, undefined);
  const [, second] = await assertUpstreamToolTurn('generateContent');
  assert.equal(second.contents[1].parts[0].thoughtSignature, signature);
});

test('an upstream 400 is an APICallError with the status and Gemini message', async () => {
  await mock.push(geminiError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'));
  await assert.rejects(
    generateText({ model: pollux.chatModel(FLASH), prompt: PROMPT, maxRetries: 0 }),
    (err) => {
      assert.ok(APICallError.isInstance(err), `not an APICallError: ${err}`);
      assert.equal(err.statusCode, 400);
      assert.equal(err.isRetryable, false);
      assert.match(err.message, /invalid argument/i);
      return true;
    },
  );
  assert.equal((await mock.requests()).length, 1);
});

test('streamText on a Gemini 3 model: parallel calls, signature restored', async () => {
  const signature = Buffer.from('scripted-signature:ai-sdk-stream').toString('base64');
  const TOKYO = { city: 'Tokyo', unit: 'celsius' };
  await mock.push(
    streamed([
      [callPart({ thoughtSignature: signature })],
      [{ functionCall: { name: 'getWeather', args: TOKYO } }],
    ], USAGE_CALL),
    streamed([[{ text: 'Sunny in both.' }]], USAGE_ANSWER),
  );
  const { result, runs, parts } = await streamWithTool(GEMINI3, 'Weather in Paris and Tokyo?');
  const calls = parts.filter((p) => p.type === 'tool-call');
  assert.deepEqual(calls.map((c) => c.input), [ARGS, TOKYO]);
  assert.equal(new Set(calls.map((c) => c.toolCallId)).size, 2);
  assert.deepEqual(runs, [ARGS, TOKYO]);
  assert.equal(await result.text, 'Sunny in both.');
  assertTotalUsage(await result.totalUsage);

  const [, second] = (await mock.requests()).map((r) => r.json);
  const [, modelTurn, resultTurn] = second.contents;
  assert.deepEqual(modelTurn.parts.map((p) => [p.functionCall.args.city, p.thoughtSignature]), [
    ['Paris', signature],
    ['Tokyo', undefined],
  ]);
  const cities = resultTurn.parts.map((p) => p.functionResponse.response.city);
  assert.deepEqual(cities, ['Paris', 'Tokyo']);
});
