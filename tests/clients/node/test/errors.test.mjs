// Errors reach the Node SDK as its own error classes.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

import OpenAI from 'openai';

import { client, geminiError, mock, POLLUX_NOKEY_URL } from './helpers.mjs';

beforeEach(() => mock.reset());

const create = (c, extra = {}) =>
  c.chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('400 BadRequestError for an out-of-range temperature', async () => {
  await assert.rejects(create(client(), { temperature: 5 }), (err) => {
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, 'temperature');
    assert.equal(err.type, 'invalid_request_error');
    return true;
  });
  assert.deepEqual(await mock.requests(), []);
});

test('401 AuthenticationError for an invalid forwarded key', async () => {
  const c = new OpenAI({ baseURL: POLLUX_NOKEY_URL, apiKey: 'invalid-key', maxRetries: 0 });
  await assert.rejects(create(c), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    return true;
  });
});

test('404 NotFoundError for an unknown model', async () => {
  await mock.push(geminiError(404, 'NOT_FOUND', 'models/gemini-9 is not found for API version v1beta.'));
  await assert.rejects(create(client(), { model: 'gemini-9' }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, String(err));
    assert.match(err.message, /gemini-9 is not found/);
    return true;
  });
});

test('429 RateLimitError with retry-after', async () => {
  await mock.push(geminiError(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota.', [
    { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '9s' },
  ]));
  await assert.rejects(create(client()), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.status, 429);
    assert.equal(err.headers.get('retry-after'), '9');
    return true;
  });
});

test('503 upstream is an InternalServerError', async () => {
  await mock.push(geminiError(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
  await assert.rejects(create(client()), (err) => {
    assert.ok(err instanceof OpenAI.InternalServerError, String(err));
    assert.equal(err.status, 503); // Gemini's status, kept
    assert.match(err.message, /overloaded/);
    return true;
  });
  assert.equal((await mock.requests()).length, 1);
});
