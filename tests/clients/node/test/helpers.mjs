// Shared helpers for the Node `openai` SDK suite: the mock-gemini control API, scenario
// builders and clients. tests/clients/run.sh passes MOCK_URL, POLLUX_URL and
// POLLUX_NOKEY_URL in the environment; for the run against the Vertex-mode Pollux it points
// POLLUX_URL at that Pollux and sets POLLUX_UPSTREAM=vertex.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

export const MOCK_URL = process.env.MOCK_URL;
export const POLLUX_URL = process.env.POLLUX_URL;
export const POLLUX_NOKEY_URL = process.env.POLLUX_NOKEY_URL;
export const SERVER_KEY = 'test-key';
/** Whether POLLUX_URL is the Pollux in front of Vertex AI (project proj-1, us-central1). */
export const VERTEX = process.env.POLLUX_UPSTREAM === 'vertex';

/** The upstream path of a model call made through POLLUX_URL. */
export const modelPath = (model, method) =>
  VERTEX
    ? `/v1/projects/proj-1/locations/us-central1/publishers/google/models/${model}:${method}`
    : `/v1beta/models/${model}:${method}`;

/** The Gemini API gets the server key; Vertex AI a bearer token (the mock's) and no key. */
export const assertUpstreamAuth = (sent) => {
  if (VERTEX) {
    assert.match(sent.headers.authorization, /^Bearer mock-vertex-token-/);
    assert.equal(sent.headers['x-goog-api-key'], undefined);
  } else {
    assert.equal(sent.headers['x-goog-api-key'], SERVER_KEY);
  }
};

/** A system instruction as sent upstream: Vertex AI wants a role on every content. */
export const systemInstruction = (text) =>
  VERTEX ? { role: 'user', parts: [{ text }] } : { parts: [{ text }] };

if (!MOCK_URL || !POLLUX_URL || !POLLUX_NOKEY_URL) {
  throw new Error('run these tests through tests/clients/run.sh (MOCK_URL/POLLUX_URL unset)');
}

async function control(method, path, body) {
  const res = await fetch(MOCK_URL + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`mock ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

export const mock = {
  reset: () => control('POST', '/_mock/reset', {}),
  /** Queue scenarios, answered in order by the next model requests. */
  push: (...scenarios) => control('POST', '/_mock/scenarios', scenarios),
  /** Every upstream request so far, each with its body parsed into `json`. */
  requests: async () =>
    (await control('GET', '/_mock/requests')).map((r) => ({
      ...r,
      json: r.body ? JSON.parse(r.body) : null,
    })),
};

/** A text answer; streamed, one event per piece. */
export const text = (...pieces) => ({
  kind: 'answer',
  chunks: pieces.map((p) => [{ text: p }]),
});

/** Parallel function calls; streamed, one event per call. */
export const calls = (...namedArgs) => ({
  kind: 'answer',
  chunks: namedArgs.map(([name, args]) => [{ functionCall: { name, args } }]),
});

export const geminiError = (status, code, message, details) => ({
  kind: 'json',
  status,
  body: { error: { code: status, message, status: code, ...(details ? { details } : {}) } },
});

export const client = (opts = {}) =>
  new OpenAI({ baseURL: POLLUX_URL, apiKey: 'sk-ignored', maxRetries: 0, timeout: 20_000, ...opts });

/** A scripted Gemini 3 thought signature (opaque base64, as Gemini's are). */
export const signature = (label) => Buffer.from(`scripted-signature:${label}`).toString('base64');

/** A Gemini 3 function call answer carrying `sig`, which the mock remembers and checks. */
export const signedCall = (name, args, sig) => ({
  kind: 'answer',
  chunks: [[{ functionCall: { name, args }, thoughtSignature: sig }]],
});

/** The thoughtSignature of every model functionCall part of an upstream body, in order. */
export const signaturesSent = (body) =>
  body.contents
    .filter((c) => c.role === 'model')
    .flatMap((c) => c.parts.filter((p) => p.functionCall).map((p) => p.thoughtSignature));
