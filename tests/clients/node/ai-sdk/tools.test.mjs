// The Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`) on Pollux: generateText and
// streamText running a tool (zod input schema) to a final answer. The provider validates every
// response and stream chunk against its own schema and turns a mismatch into an error part, so
// each test asserts that no error occurred as well as the calls, results, text and usage.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, generateText, stepCountIs, streamText } from 'ai';

import { geminiError, mock, POLLUX_URL, SERVER_KEY } from '../test/helpers.mjs';
import {
  ANSWER, ARGS, assertGeneratedLoop, assertStepUsage, assertStreamedLoopParts,
  assertStreamedLoopResult, callPart, FLASH, GEMINI3, PROMPT, pushStreamedLoop, readFullStream,
  RESULT, streamed, upstreamToolBodies, USAGE_ANSWER, USAGE_CALL, weatherTools, whole,
} from './weather.mjs';

/** The JSON bodies the SDK posted to Pollux in the current test. */
let sent = [];
beforeEach(async () => {
  sent = [];
  await mock.reset();
});

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

function assertTotalUsage(usage) {
  assert.equal(usage.inputTokens, 40 + 70);
  assert.equal(usage.outputTokens, 42 + 15);
  assert.equal(usage.totalTokens, 82 + 85);
}

/** The second upstream request carries the model's call and the tool's functionResponse. */
async function assertUpstreamToolTurn(method) {
  const [first, second] = await upstreamToolBodies(method);
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
  const parts = await readFullStream(result, errors);
  return { result, runs, parts };
}

test('generateText runs a tool to a final answer', async () => {
  await mock.push(whole([callPart()], USAGE_CALL), whole([{ text: ANSWER }], USAGE_ANSWER));
  const { result, runs } = await generateWithTool(FLASH);

  const [step1] = assertGeneratedLoop(result, runs);
  assert.deepEqual(step1.toolResults.map((r) => [r.toolName, r.toolCallId, r.output]), [
    ['getWeather', step1.toolCalls[0].toolCallId, RESULT],
  ]);
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
  await pushStreamedLoop();
  const { result, runs, parts } = await streamWithTool(FLASH);

  assertStreamedLoopParts(parts);
  const finish = parts.at(-1);
  assert.equal(finish.type, 'finish');
  assert.equal(finish.finishReason, 'stop');
  assertTotalUsage(finish.totalUsage);

  await assertStreamedLoopResult(result, runs);
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
