// OpenAI Codex CLI (`codex exec`, pinned in ../package.json) driving a Gemini 3 agent loop
// through Pollux's /v1/responses, with mock-gemini scripted as the upstream. tests/clients/run.sh
// passes MOCK_URL and POLLUX_URL.
//
// Each test writes a temporary CODEX_HOME (config.toml with a `pollux` provider, a model
// catalog that gives the model Codex's freeform `apply_patch` tool) and a work folder, queues
// Gemini-wire answers, runs `codex exec` to its end and checks the work folder, what Codex
// printed and what reached Gemini. A trap proxy in the environment proves Codex reached for
// nothing but Pollux. What Codex sends and expects is in docs/notes-codex-wire.md.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const MOCK_URL = process.env.MOCK_URL;
const POLLUX_URL = process.env.POLLUX_URL;
if (!MOCK_URL || !POLLUX_URL) {
  throw new Error('run these tests through tests/clients/run.sh (MOCK_URL/POLLUX_URL unset)');
}

const HERE = dirname(fileURLToPath(import.meta.url));
const CODEX_JS = join(HERE, '..', 'node_modules', '@openai', 'codex', 'bin', 'codex.js');
// A Gemini 3 model: mock-gemini signs its function calls and refuses a history that loses a
// signature, so the loop only passes if Pollux hands each signature back.
const MODEL = 'gemini-3-pro-preview';
const SYSTEM_PROMPT = 'You are Codex, here testing Pollux.';
const CODEX_TIMEOUT_MS = 90_000;
const SKIP_SIGNATURE = 'skip_thought_signature_validator';

// --- mock-gemini control ------------------------------------------------------------------
async function control(method, path, body) {
  const res = await fetch(MOCK_URL + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`mock ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

const mock = {
  reset: () => control('POST', '/_mock/reset', {}),
  push: (...scenarios) => control('POST', '/_mock/scenarios', scenarios),
  /** The model requests (generateContent / streamGenerateContent) so far, bodies parsed. */
  modelRequests: async () =>
    (await control('GET', '/_mock/requests'))
      .filter((r) => r.rpc)
      .map((r) => ({ ...r, json: JSON.parse(r.body) })),
};

/** One Gemini answer; streamed, one event per chunk of parts. */
const answer = (...chunks) => ({ kind: 'answer', chunks });
const call = (name, args) => ({ functionCall: { name, args } });

// --- a proxy that only records: whatever Codex tries to reach besides Pollux ---------------
let trap;
const trapped = [];
before(async () => {
  trap = createServer((req, res) => {
    trapped.push(`${req.method} ${req.url}`);
    res.writeHead(502).end();
  });
  trap.on('connect', (req, socket) => {
    trapped.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise((resolve) => trap.listen(0, '127.0.0.1', resolve));
});
after(() => new Promise((resolve) => trap.close(resolve)));

beforeEach(async () => {
  trapped.length = 0;
  await mock.reset();
});

// --- Codex ---------------------------------------------------------------------------------
/**
 * A temporary CODEX_HOME and work folder holding `files`. `provider` adds keys to the
 * `[model_providers.pollux]` table.
 */
async function setup(t, { files = {}, provider = {} } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'pollux-codex-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const home = join(root, 'codex-home');
  const work = join(root, 'work');
  const userHome = join(root, 'user-home');
  await Promise.all([mkdir(home), mkdir(work), mkdir(userHome)]);
  for (const [name, text] of Object.entries(files)) await writeFile(join(work, name), text);

  // Without a catalog entry Codex uses fallback metadata for an unknown model, and that
  // declares no apply_patch tool. The fields are the ones codex 0.169 requires.
  const catalog = {
    models: [
      {
        slug: MODEL,
        display_name: 'Gemini 3 Pro through Pollux',
        description: 'Gemini through Pollux',
        default_reasoning_level: 'medium',
        supported_reasoning_levels: ['low', 'medium', 'high'].map((effort) => ({
          effort,
          description: effort,
        })),
        shell_type: 'shell_command',
        visibility: 'list',
        supported_in_api: true,
        priority: 1,
        apply_patch_tool_type: 'freeform',
        truncation_policy: { mode: 'tokens', limit: 10000 },
        context_window: 1048576,
        input_modalities: ['text', 'image'],
        base_instructions: SYSTEM_PROMPT,
        support_verbosity: false,
        experimental_supported_tools: [],
      },
    ],
  };
  await writeFile(join(home, 'models.json'), JSON.stringify(catalog, null, 2));

  const providerTable = {
    name: '"Pollux"',
    base_url: JSON.stringify(POLLUX_URL),
    wire_api: '"responses"',
    env_key: '"POLLUX_API_KEY"',
    // One HTTP request per model turn unless a test asks for retries.
    request_max_retries: '0',
    stream_max_retries: '0',
    stream_idle_timeout_ms: '60000',
    ...provider,
  };
  const config = [
    `model = ${JSON.stringify(MODEL)}`,
    'model_provider = "pollux"',
    `model_catalog_json = ${JSON.stringify(join(home, 'models.json'))}`,
    'approval_policy = "never"',
    'sandbox_mode = "danger-full-access"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[history]',
    'persistence = "none"',
    '',
    '# The plugin marketplace reaches for github.com and chatgpt.com at start.',
    '[features]',
    'plugins = false',
    '',
    '[model_providers.pollux]',
    ...Object.entries(providerTable).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
  await writeFile(join(home, 'config.toml'), config);
  return { home, work, userHome };
}

/** `codex exec PROMPT` in `work`; resolves with its exit code, stdout and stderr. */
function codexExec({ home, work, userHome }, prompt) {
  const proxy = `http://127.0.0.1:${trap.address().port}`;
  // A clean environment: nothing from the caller's OPENAI_* or ~/.codex reaches Codex.
  const env = {
    PATH: process.env.PATH,
    HOME: userHome,
    CODEX_HOME: home,
    POLLUX_API_KEY: 'sk-pollux-client',
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    ALL_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    all_proxy: proxy,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
  const args = ['exec', '--skip-git-repo-check', '--color', 'never', '-C', work, prompt];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CODEX_JS, ...args], {
      env,
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // The wrapper forwards SIGTERM to the native binary.
    const timer = setTimeout(() => child.kill('SIGTERM'), CODEX_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function assertExitedOk(run) {
  assert.equal(
    run.code,
    0,
    `codex exec exited ${run.code ?? run.signal}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`,
  );
}

function assertNothingTrapped() {
  assert.deepEqual(trapped, [], 'Codex reached for hosts other than Pollux');
}

/** The function declarations of a Gemini request, by name. */
function declarations(req) {
  const decls = new Map();
  for (const tool of req.json.tools ?? []) {
    for (const d of tool.functionDeclarations ?? []) decls.set(d.name, d);
  }
  return decls;
}

/** Every part of a Gemini request's contents, with the role of its content. */
function parts(req) {
  return (req.json.contents ?? []).flatMap((c) => (c.parts ?? []).map((p) => ({ role: c.role, ...p })));
}

function functionResponse(req, name) {
  const found = parts(req).filter((p) => p.functionResponse?.name === name);
  assert.equal(found.length, 1, `one functionResponse for ${name} in ${JSON.stringify(req.json.contents)}`);
  return found[0];
}

function systemText(req) {
  return (req.json.systemInstruction?.parts ?? []).map((p) => p.text ?? '').join('\n');
}

// --- the agent loop --------------------------------------------------------------------------
const PATCH = [
  '*** Begin Patch',
  '*** Update File: hello.txt',
  '@@',
  '-hello from a file',
  '+hello from Gemini, through Pollux',
  '*** End Patch',
].join('\n');

test('codex exec: Gemini runs a shell command, edits a file with apply_patch and answers', async (t) => {
  const dirs = await setup(t, { files: { 'hello.txt': 'hello from a file\n' } });
  await mock.push(
    // Step 1: thinks, then asks for a shell command through Codex's shell tool.
    answer(
      [{ text: 'I should read the file first.', thought: true }],
      [call('exec_command', { cmd: 'cat hello.txt' })],
    ),
    // Step 2: Codex's apply_patch is a freeform custom tool: Gemini sees a function with one
    // string parameter `input` and sends the patch text there.
    answer([call('apply_patch', { input: PATCH })]),
    // Step 3: the final answer, streamed in two pieces.
    answer([{ text: 'hello.txt now greets ' }], [{ text: 'from Gemini.' }]),
  );

  const run = await codexExec(dirs, 'Make hello.txt greet from Gemini.');
  assertExitedOk(run);

  assert.equal(await readFile(join(dirs.work, 'hello.txt'), 'utf8'), 'hello from Gemini, through Pollux\n');
  assert.match(run.stdout, /hello\.txt now greets from Gemini\./);
  // Gemini's thought summary reached Codex as a reasoning summary (shown on stderr).
  assert.match(run.stderr, /I should read the file first\./);

  const reqs = await mock.modelRequests();
  assert.equal(reqs.length, 3, `three model turns, got ${reqs.map((r) => r.path).join(', ')}`);
  for (const req of reqs) assert.equal(req.model, MODEL);

  // Codex's tools reached Gemini under their own names; apply_patch as `{input: string}`.
  const decls = declarations(reqs[0]);
  assert.ok(decls.has('exec_command'), `exec_command declared: ${[...decls.keys()]}`);
  const applyPatch = decls.get('apply_patch');
  assert.ok(applyPatch, `apply_patch declared: ${[...decls.keys()]}`);
  const schema = applyPatch.parametersJsonSchema ?? applyPatch.parameters;
  assert.match(String(schema?.properties?.input?.type), /^string$/i, JSON.stringify(applyPatch));
  // Codex's first developer message is the model catalog's base_instructions.
  assert.match(systemText(reqs[0]), /You are Codex, here testing Pollux\./);

  // Turn 2: Gemini's own call came back signed, then the command's output as its response.
  const turn2 = parts(reqs[1]);
  const shellCall = turn2.find((p) => p.functionCall?.name === 'exec_command');
  assert.ok(shellCall, 'the exec_command call is replayed to Gemini');
  assert.deepEqual(shellCall.functionCall.args, { cmd: 'cat hello.txt' });
  assert.ok(shellCall.thoughtSignature, 'the call keeps its thought signature');
  assert.notEqual(shellCall.thoughtSignature, SKIP_SIGNATURE, 'the signature Gemini issued, not the skip value');
  const shellOut = functionResponse(reqs[1], 'exec_command');
  assert.match(JSON.stringify(shellOut.functionResponse.response), /hello from a file/);

  // Turn 3: the patch call replayed with its text, and Codex's "Success" as its response.
  const patchCall = parts(reqs[2]).find((p) => p.functionCall?.name === 'apply_patch');
  assert.ok(patchCall, 'the apply_patch call is replayed to Gemini');
  assert.deepEqual(patchCall.functionCall.args, { input: PATCH });
  assert.notEqual(patchCall.thoughtSignature ?? SKIP_SIGNATURE, SKIP_SIGNATURE, 'the patch call keeps its signature');
  const patchOut = functionResponse(reqs[2], 'apply_patch');
  assert.match(JSON.stringify(patchOut.functionResponse.response), /Success\. Updated the following files/);

  assertNothingTrapped();
});

test('codex exec: a call to a tool inside a namespace group reaches that tool', async (t) => {
  // Codex declares its sub-agent tools as a `namespace` group (multi_agent_v1). Pollux hoists
  // the members into Gemini's function list as `<namespace>__<name>` and must hand Gemini's
  // call back as `{"name": "close_agent", "namespace": "multi_agent_v1"}`, or Codex answers
  // "unsupported call". close_agent with a bad id fails harmlessly.
  const hoisted = 'multi_agent_v1__close_agent';
  const dirs = await setup(t);
  await mock.push(answer([call(hoisted, { target: 'no-such-agent' })]), answer([{ text: 'No agent to close.' }]));

  const run = await codexExec(dirs, 'Close the helper agent.');
  assertExitedOk(run);
  assert.match(run.stdout, /No agent to close\./);

  const reqs = await mock.modelRequests();
  assert.equal(reqs.length, 2);
  assert.ok(declarations(reqs[0]).has(hoisted), `namespace members are declared to Gemini: ${[...declarations(reqs[0]).keys()]}`);
  const out = JSON.stringify(functionResponse(reqs[1], hoisted).functionResponse.response);
  assert.doesNotMatch(out, /unsupported call/, 'Codex did not route the call into its namespace');
  assert.match(out, /no-such-agent/, 'close_agent ran and reported the bad id');
  assertNothingTrapped();
});

// --- errors Codex acts on ------------------------------------------------------------------------
test('codex exec: a Gemini 429 reaches Codex with Retry-After, and Codex waits and retries', async (t) => {
  // Codex 0.169 retries an HTTP 429 only when it carries Retry-After, and only in its
  // stream-retry loop (`stream_max_retries`; `request_max_retries` covers 5xx only).
  const dirs = await setup(t, { provider: { stream_max_retries: '1' } });
  await mock.push(
    {
      kind: 'json',
      status: 429,
      body: {
        error: {
          code: 429,
          message: 'Resource has been exhausted (e.g. check quota).',
          status: 'RESOURCE_EXHAUSTED',
          details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' }],
        },
      },
    },
    answer([{ text: 'Answered after the wait.' }]),
  );

  const started = Date.now();
  const run = await codexExec(dirs, 'Say something.');
  assertExitedOk(run);
  assert.match(run.stdout, /Answered after the wait\./);
  assert.equal((await mock.modelRequests()).length, 2, 'one retry');
  assert.ok(Date.now() - started >= 1000, 'Codex waited for the Retry-After second');
  assertNothingTrapped();
});

test('codex exec: a prompt over the context window is context_length_exceeded to Codex', async (t) => {
  // Codex compacts (or, in exec, stops with its context-window message) only on that code.
  const dirs = await setup(t);
  await mock.push({
    kind: 'json',
    status: 400,
    body: {
      error: {
        code: 400,
        message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).',
        status: 'INVALID_ARGUMENT',
      },
    },
  });

  const run = await codexExec(dirs, 'Summarise everything.');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /ran out of room in the model's context window/, run.stderr);
  assert.equal((await mock.modelRequests()).length, 1, 'not retried');
  assertNothingTrapped();
});

test("codex exec: Gemini failing after the 200 is response.failed, and Codex shows Gemini's message", async (t) => {
  // Codex reads a failure after the 200 only from `response.failed`: an `error` event alone,
  // or a stream that just ends, shows as "stream closed before response.completed".
  const dirs = await setup(t);
  await mock.push({
    kind: 'answer',
    chunks: [[{ text: 'Half an ans' }]],
    fail: { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } },
  });

  const run = await codexExec(dirs, 'Answer in full.');
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /stream disconnected before completion: .*overloaded/, run.stderr);
  assert.equal((await mock.modelRequests()).length, 1);
  assertNothingTrapped();
});
