// What the two Vercel AI SDK suites share (tools.test.mjs on chat through
// @ai-sdk/openai-compatible, responses.test.mjs on the Responses API through @ai-sdk/openai):
// the weather tool and its scripted Gemini answers, and the checks that do not depend on the
// route. One copy keeps the two suites asserting the same thing the same way.
import assert from 'node:assert/strict';

import { tool } from 'ai';
import { z } from 'zod';

import { mock } from '../test/helpers.mjs';

export const FLASH = 'gemini-2.5-flash';
export const GEMINI3 = 'gemini-3-pro-preview';
export const PROMPT = 'What is the weather in Paris?';
export const ARGS = { city: 'Paris', unit: 'celsius' };
export const RESULT = { city: 'Paris', temperature: 21, unit: 'celsius', sky: 'sunny' };
export const ANSWER = 'It is 21 °C and sunny in Paris.';

/** The weather tool; `runs` collects the inputs it was executed with. */
export function weatherTools(runs) {
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
// inside the output tokens as reasoning tokens.
export const USAGE_CALL = {
  promptTokenCount: 40,
  candidatesTokenCount: 12,
  thoughtsTokenCount: 30,
  totalTokenCount: 82,
};
export const USAGE_ANSWER = { promptTokenCount: 70, candidatesTokenCount: 15, totalTokenCount: 85 };

const candidate = (parts, finishReason) => ({
  content: { role: 'model', parts },
  index: 0,
  ...(finishReason ? { finishReason } : {}),
});

/** One whole generateContent body. */
export const whole = (parts, usageMetadata) => ({
  kind: 'json',
  body: { candidates: [candidate(parts, 'STOP')], usageMetadata },
});

/** A streamed answer: one event per parts list, usage on the last (finishing) event. */
export const streamed = (partsPerEvent, usageMetadata) => ({
  kind: 'stream',
  steps: partsPerEvent.map((parts, i) => {
    const last = i === partsPerEvent.length - 1;
    const event = { candidates: [candidate(parts, last ? 'STOP' : undefined)] };
    return { event: last ? { ...event, usageMetadata } : event };
  }),
});

/** The model's weather call with ARGS; `extra` adds to the part (a thought signature). */
export const callPart = (extra = {}) => ({
  functionCall: { name: 'getWeather', args: ARGS },
  ...extra,
});

/** One step's usage as the SDK reports it, from the Gemini usage scripted for that step. */
export function assertStepUsage(usage, gemini) {
  const thoughts = gemini.thoughtsTokenCount ?? 0;
  assert.equal(usage.inputTokens, gemini.promptTokenCount);
  assert.equal(usage.outputTokens, gemini.candidatesTokenCount + thoughts);
  assert.equal(usage.totalTokens, gemini.totalTokenCount);
  assert.equal(usage.outputTokenDetails.reasoningTokens, thoughts);
}

/**
 * Reads a streamText result's full stream to the end. The provider reports a chunk that fails
 * its schema as an error part (and to onError, whose errors `errors` collected) rather than
 * throwing, so this asserts there was none.
 */
export async function readFullStream(result, errors) {
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  assert.deepEqual(parts.filter((p) => p.type === 'error').map((p) => String(p.error)), []);
  assert.deepEqual(errors.map(String), []);
  return parts;
}

/**
 * The two upstream bodies of a tool loop, after asserting there were two, both to `:method`,
 * the first declaring the weather tool with its two properties.
 */
export async function upstreamToolBodies(method) {
  const requests = await mock.requests();
  assert.equal(requests.length, 2);
  for (const r of requests) assert.match(r.path, new RegExp(`:${method}$`));
  const [first, second] = requests.map((r) => r.json);
  const [declaration] = first.tools[0].functionDeclarations;
  assert.equal(declaration.name, 'getWeather');
  const properties = Object.keys(declaration.parametersJsonSchema.properties);
  assert.deepEqual(properties.sort(), ['city', 'unit']);
  return [first, second];
}

/** The pieces the streamed final answer comes in: ANSWER, split over three events. */
export const PIECES = ['It is 21 °C ', 'and sunny ', 'in Paris.'];

/** Scripts the plain tool loop, streamed: the weather call, then ANSWER in PIECES. */
export const pushStreamedLoop = () =>
  mock.push(
    streamed([[callPart()]], USAGE_CALL),
    streamed(PIECES.map((t) => [{ text: t }]), USAGE_ANSWER),
  );

/**
 * The stream parts of the plain streamed loop: the one weather call, its result under the
 * call's id, the text deltas of PIECES, and two steps ending in `tool-calls` then `stop`.
 */
export function assertStreamedLoopParts(parts) {
  const calls = parts.filter((p) => p.type === 'tool-call');
  assert.deepEqual(calls.map((c) => [c.toolName, c.input]), [['getWeather', ARGS]]);
  const results = parts.filter((p) => p.type === 'tool-result');
  assert.deepEqual(results.map((r) => [r.toolCallId, r.output]), [[calls[0].toolCallId, RESULT]]);
  const deltas = parts.filter((p) => p.type === 'text-delta').map((p) => p.text);
  assert.deepEqual(deltas, PIECES);
  const stepEnds = parts.filter((p) => p.type === 'finish-step');
  assert.deepEqual(stepEnds.map((p) => p.finishReason), ['tool-calls', 'stop']);
}

/** The streamed loop's outcome: ANSWER, one tool run with ARGS, each step's usage. */
export async function assertStreamedLoopResult(result, runs) {
  assert.equal(await result.text, ANSWER);
  assert.deepEqual(runs, [ARGS]);
  const steps = await result.steps;
  assertStepUsage(steps[0].usage, USAGE_CALL);
  assertStepUsage(steps[1].usage, USAGE_ANSWER);
}

/**
 * The plain generateText loop on FLASH: ANSWER after two steps, the first a `tool-calls` step
 * with the one weather call (which ran once, with ARGS), each step's usage. Returns the two
 * steps for the route's own checks.
 */
export function assertGeneratedLoop(result, runs) {
  assert.equal(result.text, ANSWER);
  assert.equal(result.finishReason, 'stop');
  assert.deepEqual(runs, [ARGS]);
  assert.equal(result.steps.length, 2);
  const [step1, step2] = result.steps;
  assert.equal(step1.finishReason, 'tool-calls');
  assert.deepEqual(step1.toolCalls.map((c) => [c.toolName, c.input]), [['getWeather', ARGS]]);
  assert.ok(step1.toolCalls[0].toolCallId);
  assert.equal(step2.text, ANSWER);
  assert.equal(step2.response.modelId, FLASH);
  assertStepUsage(step1.usage, USAGE_CALL);
  assertStepUsage(step2.usage, USAGE_ANSWER);
  return [step1, step2];
}
