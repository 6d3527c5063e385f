// Tool calling with the Node SDK: the `runTools` helper through a two-step loop (parallel
// calls, then an answer), and streamed tool calls accumulated by the stream helper.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import { calls, client, mock, text } from './helpers.mjs';

beforeEach(() => mock.reset());

const PARIS = { city: 'Paris' };
const TOKYO = { city: 'Tokyo' };
const weatherTool = (fn) => ({
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
    function: fn,
    parse: JSON.parse,
  },
});

test('runTools: parallel calls, tool results upstream, final answer', async () => {
  await mock.push(calls(['get_weather', PARIS], ['get_weather', TOKYO]), text('Sunny in both.'));
  const invoked = [];
  const runner = client().chat.completions.runTools({
    model: 'gemini-2.5-flash',
    messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }],
    tools: [weatherTool((args) => {
      invoked.push(args);
      return { city: args.city, sky: 'sunny' };
    })],
  });
  const content = await runner.finalContent();
  assert.equal(content, 'Sunny in both.');
  assert.deepEqual(invoked, [PARIS, TOKYO]);

  const messages = runner.messages;
  const assistant = messages.find((m) => m.role === 'assistant' && m.tool_calls);
  assert.deepEqual(assistant.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [
    ['get_weather', PARIS],
    ['get_weather', TOKYO],
  ]);
  assert.equal(new Set(assistant.tool_calls.map((c) => c.id)).size, 2);

  const bodies = (await mock.requests()).map((r) => r.json);
  assert.equal(bodies.length, 2);
  const last = bodies[1].contents.at(-1);
  assert.equal(last.role, 'user');
  assert.deepEqual(
    last.parts.map((p) => [p.functionResponse.name, p.functionResponse.response.city]),
    [['get_weather', 'Paris'], ['get_weather', 'Tokyo']],
  );
});

test('runTools with stream: true', async () => {
  await mock.push(calls(['get_weather', PARIS]), text('Sunny ', 'in Paris.'));
  const runner = client().chat.completions.runTools({
    model: 'gemini-2.5-flash',
    stream: true,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [weatherTool((args) => ({ city: args.city, sky: 'sunny' }))],
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'Sunny in Paris.');
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal((await mock.requests()).length, 2);
});

test('streamed tool calls equal the non-streamed ones', async () => {
  const scenario = calls(['get_weather', PARIS], ['get_weather', TOKYO]);
  await mock.push(scenario, scenario);
  const params = {
    model: 'gemini-2.5-flash',
    messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }],
    tools: [{ type: 'function', function: weatherTool().function }].map((t) => {
      const { function: _f, parse: _p, ...fn } = t.function;
      return { type: 'function', function: fn };
    }),
  };
  const plain = await client().chat.completions.create(params);
  const streamed = await client().chat.completions.stream(params).finalChatCompletion();
  const summary = (c) => c.choices[0].message.tool_calls.map((t) => [t.function.name, JSON.parse(t.function.arguments)]);
  assert.equal(plain.choices[0].finish_reason, 'tool_calls');
  assert.equal(streamed.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(summary(streamed), summary(plain));
});
