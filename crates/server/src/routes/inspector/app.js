// Pollux inspector: the live list of exchanges, one exchange's four panes, the status view.
// Plain JavaScript module, no dependencies; everything comes from /inspector/api/ on this
// page's own origin.

const api = "/inspector/api";
const $ = (id) => document.getElementById(id);
const rows = new Map(); // id -> summary
let order = []; // ids, newest first
let current = null; // the open exchange
let statusTimer = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function get(path) {
  const res = await fetch(api + path, { credentials: "same-origin" });
  if (res.status === 401) {
    $("key-form").hidden = false;
    throw new Error("admin key needed");
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

// ---- list ----------------------------------------------------------------------------

const fmtMs = (v) => (v == null ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(0));
const fmtTok = (t) => [t.prompt, t.output, t.reasoning, t.cached].map((v) => (v == null ? "–" : v)).join(" / ");

function matches(s) {
  const route = $("f-route").value, model = $("f-model").value, status = $("f-status").value;
  const text = $("f-text").value.trim().toLowerCase();
  if (route && s.route !== route) return false;
  if (model && s.model !== model && s.client_model !== model) return false;
  if (status === "err" && s.status < 400) return false;
  if (status && status !== "err" && String(s.status)[0] !== status) return false;
  if (text) {
    const hay = [s.request_id, s.route, s.path, s.model, s.client_model, s.status, s.key, ...s.dropped].join(" ").toLowerCase();
    if (!hay.includes(text)) return false;
  }
  return true;
}

// An exchange in flight shows its state where the status and timings will be.
const statusText = (s) => (s.state === "pending" ? "pending…" : s.state === "streaming" ? `${s.status} streaming…` : String(s.status));

function row(s) {
  const tr = el("tr", { tabindex: "0", "data-id": String(s.id), "data-status": String(s.status), "data-state": s.state });
  const models = s.client_model && s.client_model !== s.model ? `${s.client_model} → ${s.model ?? "–"}` : s.model ?? "–";
  const done = s.state === "done";
  tr.append(
    el("td", { text: new Date(s.time).toLocaleTimeString() }),
    el("td", { text: s.path || s.route }),
    el("td", { class: "model", text: models }),
    el("td", { class: done ? `status s${String(s.status)[0]}` : "status in-flight", text: statusText(s) }),
    el("td", { text: s.stream ? "stream" : "" }),
    el("td", { text: done ? `${fmtMs(s.duration_ms)} ms: ${fmtMs(s.own_ms)} / ${fmtMs(s.gemini_ms)}` : "…" }),
    el("td", { text: fmtTok(s.tokens) }),
    el("td", { class: "dropped", text: s.dropped.join(", ") }),
    el("td", { class: "retries", text: s.retries ? String(s.retries) : "" }),
    el("td", { text: s.key ?? "" }),
  );
  tr.addEventListener("click", () => open(s.id));
  tr.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(s.id); }
    if (e.key === "ArrowDown") tr.nextElementSibling?.focus();
    if (e.key === "ArrowUp") tr.previousElementSibling?.focus();
  });
  return tr;
}

function fillSelect(select, values) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const v of values) if (v && !have.has(v)) select.append(el("option", { value: v, text: v }));
}

function render() {
  const body = $("exchanges").tBodies[0];
  const shown = order.map((id) => rows.get(id)).filter(matches);
  body.replaceChildren(...shown.map(row));
  $("empty").hidden = order.length > 0;
  fillSelect($("f-route"), [...rows.values()].map((s) => s.route));
  fillSelect($("f-model"), [...rows.values()].map((s) => s.model));
}

function add(s) {
  if (!rows.has(s.id)) order.unshift(s.id);
  rows.set(s.id, s);
}

async function reload() {
  const list = await get("/exchanges");
  rows.clear();
  order = [];
  for (const s of list.data.slice().reverse()) add(s);
  render();
}

function live() {
  const feed = new EventSource(api + "/events");
  feed.addEventListener("open", () => { $("live").textContent = "live"; });
  feed.addEventListener("exchange", (e) => {
    const s = JSON.parse(e.data);
    add(s);
    render();
    // The open exchange finished: show it whole.
    if (current?.id === s.id && current.state !== "done" && s.state === "done") open(s.id).catch(() => {});
  });
  feed.addEventListener("reload", () => { reload().catch(() => {}); });
  feed.addEventListener("error", () => { $("live").textContent = "reconnecting…"; });
}

// ---- one exchange --------------------------------------------------------------------

const BASE64 = /^[A-Za-z0-9+/=_-]+$/;
const BIG = 512;

// Pretty JSON with large base64 strings shown as their size and type.
function collapse(value, mime) {
  if (typeof value === "string") {
    const data = value.match(/^data:([^;,]+);base64,(.*)$/s);
    if (data && data[2].length > BIG) return `[base64 ${data[1]}, ${Math.floor(data[2].length * 3 / 4)} bytes]`;
    if (value.length > BIG && BASE64.test(value)) return `[base64 ${mime ?? "data"}, ${Math.floor(value.length * 3 / 4)} bytes]`;
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => collapse(v, mime));
  if (value && typeof value === "object") {
    const out = {};
    const m = value.mimeType ?? value.mime_type ?? value.media_type ?? mime;
    for (const [k, v] of Object.entries(value)) out[k] = collapse(v, m);
    return out;
  }
  return value;
}

function pretty(text) {
  try { return JSON.stringify(collapse(JSON.parse(text)), null, 2); } catch { return text; }
}

function showBody(pre, body) {
  pre.replaceChildren();
  if (!body) { pre.append(el("span", { class: "collapsed", text: "(nothing kept)" })); return; }
  pre.append(pretty(body.text));
  if (body.elided) pre.append(el("span", { class: "elided", text: `\n… ${body.elided} of ${body.size} bytes elided` }));
}

function showPieces(pre, pieces) {
  pre.replaceChildren();
  for (const p of pieces.items) {
    pre.append(el("span", { class: "at", text: `+${p.at_ms.toFixed(1)} ms\n` }));
    const text = p.data.replace(/^data: /, "").trim();
    pre.append(text.split("\n").map((line) => (line.startsWith("data: ") ? pretty(line.slice(6)) : pretty(line))).join("\n") + "\n");
  }
  if (pieces.elided) pre.append(el("span", { class: "elided", text: `… ${pieces.elided} of ${pieces.size} bytes elided` }));
}

function parse(body) {
  try { return body ? JSON.parse(body.text) : null; } catch { return null; }
}

function countSignatures(value) {
  let n = 0;
  JSON.stringify(value ?? null, (k, v) => { if (k === "thoughtSignature" || k === "thought_signature") n++; return v; });
  return n;
}

function marks(x) {
  const out = [];
  for (const d of x.dropped) out.push(["dropped-mark", `dropped: ${d}`]);
  // As the translation recorded them.
  for (const r of x.renamed ?? []) out.push(["renamed-mark", `renamed tool: ${r.client} → ${r.gemini}`]);
  const client = parse(x.bodies.client_request), gemini = parse(x.bodies.gemini_request);
  if (client && gemini) {
    const restored = countSignatures(gemini.contents) - countSignatures(client.messages ?? client.input);
    if (restored > 0) out.push(["restored-mark", `restored ${restored} thought signature${restored > 1 ? "s" : ""}`]);
  }
  if (x.retries) out.push(["retry-mark", `retried ${x.retries} time${x.retries > 1 ? "s" : ""}`]);
  $("marks").replaceChildren(...out.map(([c, t]) => el("li", { class: c, text: t })));
}

function meta(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v == null || v === "" ? "–" : String(v) })]));
}

async function open(id) {
  const x = await get(`/exchanges/${id}`);
  current = x;
  $("detail").dataset.id = String(x.id);
  $("list-view").hidden = true;
  $("detail").hidden = false;
  $("curl-out").hidden = true;
  $("detail-title").textContent = `${x.method} ${x.path} → ${statusText(x)}`;
  meta($("detail-meta"), [
    ["Request id", x.request_id], ["Time", x.time],
    ["Model", `${x.client_model ?? "–"} → ${x.model ?? "–"}`], ["Stream", x.stream ? "yes" : "no"],
    ["Total", `${fmtMs(x.duration_ms)} ms`], ["Pollux's own", `${fmtMs(x.own_ms)} ms`], ["Gemini", `${fmtMs(x.gemini_ms)} ms`],
    ["Tokens in/out/think/cached", fmtTok(x.tokens)], ["Upstream key", x.key], ["Retries", x.retries], ["End", x.end ?? `(${x.state})`],
  ]);
  marks(x);
  const attempts = x.bodies.attempts;
  $("attempts").replaceChildren();
  if (attempts.length) {
    const t = el("table", { id: "attempt-table" }, el("thead", {}, el("tr", {}, ...["Attempt", "At", "Key", "Status", "Answer"].map((h) => el("th", { scope: "col", text: h })))));
    const tb = el("tbody");
    attempts.forEach((a, i) => tb.append(el("tr", {},
      el("td", { text: String(i + 1) }), el("td", { text: `+${a.at_ms.toFixed(1)} ms` }),
      el("td", { text: a.key ?? "" }), el("td", { text: a.status == null ? "no answer" : String(a.status) }),
      el("td", { text: a.error ? a.error.text.slice(0, 160) : "" }))));
    t.append(tb);
    $("attempts").append(t);
  }
  showBody($("pane-client-request"), x.bodies.client_request);
  showBody($("pane-gemini-request"), x.bodies.gemini_request);
  if (x.bodies.gemini_events) showPieces($("pane-gemini-response"), x.bodies.gemini_events);
  else showBody($("pane-gemini-response"), x.bodies.gemini_response ?? attempts.findLast((a) => a.error)?.error);
  if (x.bodies.client_chunks) showPieces($("pane-client-response"), x.bodies.client_chunks);
  else showBody($("pane-client-response"), x.bodies.client_response);
  $("curl-client").disabled = !x.bodies.client_request;
  $("curl-gemini").disabled = !x.bodies.gemini_request || !attempts.length;
  $("detail").focus();
}

function closeDetail() {
  const id = current?.id;
  current = null;
  $("detail").hidden = true;
  $("list-view").hidden = false;
  document.querySelector(`#exchanges tr[data-id="${id}"]`)?.focus();
}

const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

function curl(which) {
  const x = current;
  let cmd;
  if (which === "client") {
    const url = `${location.origin}${x.path}`;
    cmd = `curl -sS ${quote(url)} -H 'content-type: application/json' -H "Authorization: Bearer $OPENAI_API_KEY" --data-binary ${quote(x.bodies.client_request.text)}`;
  } else {
    const url = x.bodies.attempts[x.bodies.attempts.length - 1].url;
    cmd = `curl -sS ${quote(url)} -H 'content-type: application/json' -H "x-goog-api-key: $GEMINI_API_KEY" --data-binary ${quote(x.bodies.gemini_request.text)}`;
  }
  const out = $("curl-out");
  out.value = cmd;
  out.hidden = false;
  out.dataset.which = which;
  // The clipboard may be refused (no focus, permissions): the command is shown either way.
  navigator.clipboard?.writeText(cmd).catch(() => {});
}

// ---- status ----------------------------------------------------------------------------

function chart(svg, points) {
  const max = Math.max(1e-9, ...points.map((p) => p[1]));
  const coords = points.map(([x, y]) => `${x.toFixed(1)},${(78 - (y / max) * 74).toFixed(1)}`).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coords);
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "12"); label.setAttribute("font-size", "10");
  label.textContent = `max ${max < 10 ? max.toFixed(2) : max.toFixed(0)}`;
  svg.replaceChildren(line, label);
}

async function refreshStatus() {
  const s = await get("/status");
  meta($("status-meta"), [
    ["Version", s.version], ["Listen", s.listen], ["Upstream", s.upstream], ["Keys", s.keys],
    ["Signature cache", `${s.signature_cache} signatures`], ["Response store", `${s.response_store.entries} responses, ${s.response_store.bytes} bytes`],
    ["Open streams", s.open_streams],
    ["Inspector", `${s.inspector.kept} of ${s.inspector.entries} kept, bodies ${s.inspector.bodies ? `on (cap ${s.inspector.body_bytes} bytes)` : "off"}`],
  ]);
  $("key-pool").tBodies[0].replaceChildren(...s.key_pool.map((k) => el("tr", {},
    el("td", { text: k.fingerprint }), el("td", { text: k.state }), el("td", { text: k.cooldown_secs ? `${k.cooldown_secs} s` : "" }))));
  // The last five minutes, one point per second (seconds without traffic are zero).
  const bySecond = new Map(s.series.map((p) => [p.t, p]));
  const rps = [], own = [], gem = [];
  for (let i = 0; i < 300; i++) {
    const p = bySecond.get(s.now - 299 + i);
    const n = p?.requests ?? 0;
    rps.push([i, n]);
    own.push([i, n ? p.own_us / n / 1000 : 0]);
    gem.push([i, n ? p.gemini_us / n / 1000 : 0]);
  }
  chart($("chart-rps"), rps); chart($("chart-own"), own); chart($("chart-gemini"), gem);
}

function view(name) {
  const status = name === "status";
  $("tab-list").setAttribute("aria-pressed", String(!status));
  $("tab-status").setAttribute("aria-pressed", String(status));
  $("status-view").hidden = !status;
  $("list-view").hidden = status || current != null;
  $("detail").hidden = status || current == null;
  clearInterval(statusTimer);
  if (status) {
    refreshStatus().catch(() => {});
    statusTimer = setInterval(() => refreshStatus().catch(() => {}), 2000);
  }
}

// ---- wiring ----------------------------------------------------------------------------

for (const id of ["f-route", "f-model", "f-status"]) $(id).addEventListener("change", render);
$("f-text").addEventListener("input", render);
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("close-detail").addEventListener("click", closeDetail);
$("curl-client").addEventListener("click", () => curl("client"));
$("curl-gemini").addEventListener("click", () => curl("gemini"));
$("tab-list").addEventListener("click", () => view("list"));
$("tab-status").addEventListener("click", () => view("status"));
$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  document.cookie = `pollux_admin=${encodeURIComponent($("admin-key").value)}; path=/; SameSite=Strict`;
  location.reload();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && current) closeDetail();
  if (e.key === "/" && document.activeElement?.tagName !== "INPUT") { e.preventDefault(); $("f-text").focus(); }
});

reload().then(live).catch((e) => { $("live").textContent = e.message; });
