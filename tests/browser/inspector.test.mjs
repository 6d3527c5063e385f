// The inspector page (issue #20) in a real browser: Debian's Chromium, headless, driven by
// playwright-core. Traffic goes through Pollux (two pool keys, retries on) to mock-gemini with
// the openai Node SDK; the page must show each exchange live (a stream while it is still
// running), open one with its four panes and the marks of what Pollux changed, filter by
// status, and give curl commands that, run, get the same answer. Any console error
// fails the test. Screenshots go to tests/browser/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
const POLLUX_BIN = process.env.POLLUX_BIN ?? join(TARGET, 'debug', 'pollux');
const MOCK_BIN = process.env.MOCK_BIN ?? join(TARGET, 'debug', 'mock-gemini');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(HERE, 'artifacts');
const KEYS = ['AIzaBrowserPoolKeyOne-000000000000000001', 'AIzaBrowserPoolKeyTwo-000000000000000002'];
const run = promisify(execFile);

const children = [];
let mockUrl, polluxUrl, browser, page, openai;
const consoleErrors = [];

function started(child, pattern) {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const m = out.match(pattern);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code} before it listened: ${out}`)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function control(path, body) {
  const res = await fetch(mockUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `mock ${path}: ${res.status}`);
}
const push = (...scenarios) => control('/_mock/scenarios', scenarios);

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const mock = spawn(MOCK_BIN, ['--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(mock);
  mockUrl = await started(mock, /mock-gemini listening on (http:\/\/[0-9.:]+)/);
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(POLLUX|GEMINI)_/.test(k)));
  const pollux = spawn(
    POLLUX_BIN,
    ['--listen', `127.0.0.1:${port}`, '--upstream', mockUrl, '--retry-base-ms', '10'],
    { env: { ...env, GEMINI_API_KEYS: KEYS.join(','), RUST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(pollux);
  polluxUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(polluxUrl + '/healthz')).ok) break; } catch { /* not yet */ }
    assert.ok(i < 200, 'pollux did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  openai = new OpenAI({ baseURL: polluxUrl + '/v1', apiKey: 'sk-unused', maxRetries: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  // A fresh context is a fresh profile (playwright gives each its own user data directory).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
});

after(async () => {
  await browser?.close();
  for (const c of children) c.kill();
});

const rows = () => page.locator('#exchanges tbody tr');
// n rows, every one finished (an exchange is listed from its start, then updated).
async function expectRows(n) {
  await page.waitForFunction((n) => {
    const shown = [...document.querySelectorAll('#exchanges tbody tr')];
    return shown.length === n && shown.every((tr) => tr.dataset.state === 'done');
  }, n, { timeout: 10_000 });
}

test('exchanges appear live, open with four panes, filter, and copy as curl', async () => {
  await page.goto(polluxUrl + '/');
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live');
  assert.equal(await rows().count(), 0);

  // 1. Plain chat with a parameter Gemini 3 cannot take.
  const plain = await openai.chat.completions.create({
    model: 'gemini-3-pro-preview', presence_penalty: 0.5,
    messages: [{ role: 'user', content: 'Hello, inspector!' }],
  });
  await expectRows(1);
  assert.match(await rows().first().textContent(), /presence_penalty/);

  // 2. A stream.
  const stream = await openai.chat.completions.create({
    model: 'gemini-2.5-flash', stream: true, messages: [{ role: 'user', content: 'stream me' }],
  });
  for await (const _ of stream) { /* read it all */ }
  await expectRows(2);

  // 3. A tool loop: a signed call, then its result sent back without the signature
  // (Pollux restores it). The second tool's name is not one Gemini accepts (Pollux renames it).
  const sig = Buffer.from('scripted-signature:browser').toString('base64');
  await push({ kind: 'answer', chunks: [[{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: sig }]] });
  const tools = [
    { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    { type: 'function', function: { name: 'maps/lookup', parameters: { type: 'object', properties: { place: { type: 'string' } } } } },
  ];
  const first = await openai.chat.completions.create({
    model: 'gemini-3-pro-preview', tools, messages: [{ role: 'user', content: 'weather in Paris?' }],
  });
  const call = first.choices[0].message.tool_calls[0];
  await openai.chat.completions.create({
    model: 'gemini-3-pro-preview', tools,
    messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: call.function }] },
      { role: 'tool', tool_call_id: call.id, content: 'sunny' },
    ],
  });
  await expectRows(4);

  // 4. The Responses API.
  const resp = await openai.responses.create({ model: 'gemini-2.5-flash', input: 'a response, please' });
  assert.match(resp.output_text, /a response, please/);
  await expectRows(5);

  // 5. An upstream 429 on the first key: Pollux retries with the second.
  await push({ kind: 'json', status: 429, body: { error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } } });
  const retried = await openai.chat.completions.create({
    model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'after a 429' }],
  });
  assert.match(retried.choices[0].message.content, /after a 429/);
  await expectRows(6);

  // 6. A client error, refused before Gemini.
  await fetch(polluxUrl + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gemini-2.5-flash' }),
  });
  await expectRows(7);
  await page.screenshot({ path: join(ARTIFACTS, 'list.png') });

  // Nothing on the page, list or detail, shows a key.
  const html = await page.content();
  for (const k of KEYS) assert.ok(!html.includes(k));

  // The retried exchange: its attempts, the two key fingerprints, the Gemini model.
  await page.locator('#exchanges tbody tr', { hasText: 'gemini-2.5-flash' }).filter({ has: page.locator('td.retries', { hasText: '1' }) }).click();
  await page.waitForSelector('#attempt-table');
  const attempts = await page.locator('#attempt-table tbody tr').allTextContents();
  assert.equal(attempts.length, 2);
  assert.match(attempts[0], /429/);
  assert.match(attempts[1], /200/);
  assert.match(await page.locator('#marks').textContent(), /retried 1 time/);
  assert.match(await page.locator('#detail-meta').textContent(), /gemini-2\.5-flash → gemini-2\.5-flash/);
  for (const k of KEYS) assert.ok(!(await page.content()).includes(k), 'no key in the detail');
  await page.keyboard.press('Escape');

  // The first chat: the dropped parameter and the Gemini request; then copy both as curl.
  await rows().last().focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#detail:not([hidden])');
  assert.match(await page.locator('#marks').textContent(), /dropped: presence_penalty/);
  assert.match(await page.locator('#pane-gemini-request').textContent(), /Hello, inspector!/);
  await page.screenshot({ path: join(ARTIFACTS, 'detail.png'), fullPage: true });

  await page.click('#curl-client');
  const clientCurl = await page.locator('#curl-out').inputValue();
  assert.ok(!clientCurl.includes('sk-unused'), 'a placeholder, not the key');
  const { stdout: again } = await run('bash', ['-c', clientCurl], { env: { ...process.env, OPENAI_API_KEY: 'sk-unused' } });
  assert.equal(JSON.parse(again).choices[0].message.content, plain.choices[0].message.content);

  await page.click('#curl-gemini');
  const geminiCurl = await page.locator('#curl-out').inputValue();
  assert.match(geminiCurl, /models\/gemini-3-pro-preview:generateContent/);
  assert.match(geminiCurl, /\$GEMINI_API_KEY/);
  for (const k of KEYS) assert.ok(!geminiCurl.includes(k));
  const { stdout: direct } = await run('bash', ['-c', geminiCurl], { env: { ...process.env, GEMINI_API_KEY: 'any-key' } });
  assert.equal(JSON.parse(direct).candidates[0].content.parts.map((p) => p.text).join(''), plain.choices[0].message.content);
  await page.click('#close-detail');

  // The tool loop's second turn: the restored signature is marked.
  // Ids count from 1 in a fresh Pollux: the tool loop's second turn is the fourth exchange.
  await expectRows(8); // the client curl above went through Pollux too
  const secondId = '4';
  const second = page.locator('#exchanges tbody tr[data-id="4"]');
  assert.match(await second.textContent(), /gemini-3-pro-preview/);
  await second.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => !document.getElementById('detail').hidden && document.getElementById('detail').dataset.id === id, secondId);
  const marks = await page.locator('#marks').textContent();
  assert.match(marks, /restored 1 thought signature/);
  // The rename as Pollux recorded it, and the name Gemini really got.
  const renamed = marks.match(/renamed tool: maps\/lookup → (maps_lookup_[0-9a-f]{8})/);
  assert.ok(renamed, marks);
  assert.match(await page.locator('#pane-gemini-request').textContent(), new RegExp(`"name": "${renamed[1]}"`));
  assert.doesNotMatch(marks, /renamed tool: get_weather/);
  await page.keyboard.press('Escape');

  // Filter by status: only the 400.
  await page.selectOption('#f-status', '4');
  await expectRows(1);
  assert.equal(await rows().first().getAttribute('data-status'), '400');
  await page.selectOption('#f-status', '');
  await expectRows(8);
  // Text search, by keyboard.
  await page.keyboard.press('/');
  await page.keyboard.type('responses');
  await expectRows(1);
  await page.fill('#f-text', '');

  // The status view draws its charts.
  await page.click('#tab-status');
  await page.waitForFunction(() => document.querySelector('#chart-rps polyline'));
  assert.equal(await page.locator('#key-pool tbody tr').count(), 2);
  await page.screenshot({ path: join(ARTIFACTS, 'status.png') });
  await page.click('#tab-list');

  // A narrow window: the detail's panes stack and stay inside the viewport.
  await page.setViewportSize({ width: 420, height: 800 });
  await rows().first().click();
  await page.waitForSelector('#detail:not([hidden])');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page wider than the window by ${overflow}px`);
  await page.screenshot({ path: join(ARTIFACTS, 'narrow.png'), fullPage: true });
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 800 });

  // A stream still running is listed before it ends: mock-gemini sends one event and then
  // holds the stream open; the row shows it streaming until the client goes away.
  await push({ kind: 'stream', steps: [
    { event: { candidates: [{ content: { role: 'model', parts: [{ text: 'still ' }] }, index: 0 }], modelVersion: 'gemini-2.5-flash' } },
    'hang',
  ] });
  const held = await openai.chat.completions.create({
    model: 'gemini-2.5-flash', stream: true, messages: [{ role: 'user', content: 'hold on' }],
  });
  const reader = held[Symbol.asyncIterator]();
  const firstChunk = await reader.next();
  assert.ok(!firstChunk.done);
  await page.waitForSelector('#exchanges tbody tr[data-state="streaming"]', { timeout: 10_000 });
  const inFlight = page.locator('#exchanges tbody tr[data-state="streaming"]');
  assert.match(await inFlight.textContent(), /200 streaming…/);
  const heldId = await inFlight.getAttribute('data-id');
  await page.screenshot({ path: join(ARTIFACTS, 'in-flight.png') });
  held.controller.abort();
  // Then it finishes in place: same row, now done, the client gone.
  await page.waitForSelector(`#exchanges tbody tr[data-id="${heldId}"][data-state="done"]`, { timeout: 10_000 });
  const x = await (await fetch(`${polluxUrl}/inspector/api/exchanges/${heldId}`)).json();
  assert.equal(x.end, 'gone');
  assert.equal(x.status, 200);

  assert.deepEqual(consoleErrors, []);
});
