// The Conexor dashboard: plain ES modules, no framework and no build step.
// Everything shown is set as text (never as HTML), so a name from a source
// cannot become markup; the API key lives in this module's memory only and
// travels only as a bearer token; connection specs are sealed in crypto.js
// before any request carries them.

import * as cx from "./crypto.js";

const state = { key: null, self: null, unlocked: null, reason: null };
const app = document.getElementById("app");

/** An element with text children only. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") node.className = v;
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Is it running?");
  }
  if (response.status === 401) {
    signOut("Your key was revoked or is no longer valid. Sign in again.");
    throw new ApiError(401, "signed out");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `The server answered ${response.status}.`;
    throw new ApiError(response.status, message);
  }
  return data ?? text;
}

function signOut(reason) {
  if (state.unlocked) state.unlocked.wmk.fill(0);
  state.key = null; state.self = null; state.unlocked = null;
  // Said on the sign-in page the hash change brings up.
  state.reason = reason;
  if (location.hash) location.hash = "";
  else renderSignIn();
}

function notice(kind, text) {
  return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// ---------------------------------------------------------------- sign in

function renderSignIn() {
  const reason = state.reason;
  state.reason = null;
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "cxk_…", required: true, "aria-describedby": "key-help" });
  const status = el("div", { "aria-live": "polite" });
  const button = el("button", { type: "submit" }, "Sign in");
  const form = el("form", { class: "card narrow", on: { submit: async (e) => {
    e.preventDefault();
    status.replaceChildren();
    const key = input.value;
    try { cx.parseApiKey(key); } catch (err) { status.append(notice("error", err.message)); return; }
    button.disabled = true;
    status.append(notice("info", "Checking the key…"));
    state.key = key;
    try {
      state.self = await api("GET", "keys/self");
      status.replaceChildren(notice("info", "Deriving your key in this tab (PBKDF2, 600,000 rounds)…"));
      const started = performance.now();
      state.unlocked = await cx.unlock(key, state.self);
      status.replaceChildren(notice("ok", `Unlocked in ${Math.round(performance.now() - started)} ms.`));
      input.value = "";
      location.hash = "#/connections";
      route();
    } catch (err) {
      state.key = null; state.self = null;
      if (err.status !== 401) status.replaceChildren(notice("error", err.message));
      else status.replaceChildren(notice("error", "This key is not valid, or it was revoked."));
      button.disabled = false;
    }
  } } },
    el("h1", {}, "Sign in to Conexor"),
    reason ? notice("info", reason) : null,
    el("label", { for: "api-key" }, "API key"),
    input,
    el("p", { id: "key-help", class: "help" }, "Your key never leaves this tab except as the Authorization header; it is forgotten when you sign out or close the tab."),
    button,
    status,
  );
  app.replaceChildren(form);
  input.focus();
}

// ---------------------------------------------------------------- shell

const PAGES = [
  ["#/connections", "Connections"],
  ["#/add", "Add connection"],
  ["#/audit", "Audit"],
  ["#/agents", "Agents"],
  ["#/keys", "API keys"],
  ["#/client", "Connect a client"],
];

function shell(active, ...content) {
  const nav = el("nav", { "aria-label": "Main" },
    ...PAGES.map(([href, label]) => el("a", { href, "aria-current": href === active ? "page" : false }, label)),
    el("span", { class: "who" }, `${state.self.label || state.self.key_id} · ${state.self.workspace_id}`),
    el("button", { class: "link", on: { click: () => signOut("Signed out.") } }, "Sign out"),
  );
  app.replaceChildren(el("header", {}, el("strong", {}, "Conexor"), nav), el("main", {}, ...content));
}

function route() {
  if (!state.unlocked) { renderSignIn(); return; }
  const hash = location.hash || "#/connections";
  const page = hash.split("?")[0];
  if (page === "#/add") return renderAdd();
  if (page === "#/audit") return renderAudit();
  if (page === "#/client") return renderClient();
  if (page === "#/keys") return renderKeys();
  if (page === "#/connection") return renderDetail(new URLSearchParams(hash.split("?")[1] || "").get("name") || "");
  if (page === "#/agents") return renderAgents();
  return renderConnections(new URLSearchParams(hash.split("?")[1] || "").get("tab") || "database");
}

// ---------------------------------------------------------------- connections

const TABS = [
  ["database", "Database", ["postgresql", "mysql", "sqlite", "sqlserver"]],
  ["storage", "Cloud Storage", ["s3"]],
  ["kafka", "Kafka", ["kafka"]],
  ["rest", "REST API", ["rest"]],
  ["secrets", "Secrets", []],
];

async function renderConnections(tab) {
  const body = el("div", { "aria-live": "polite" }, notice("info", "Loading…"));
  const tabs = el("div", { role: "tablist", class: "tabs" },
    ...TABS.map(([id, label]) => el("a", { role: "tab", href: `#/connections?tab=${id}`, "aria-selected": id === tab ? "true" : "false" }, label)));
  shell("#/connections", el("h1", {}, "Connections"), tabs, body);
  try {
    if (tab === "secrets") {
      const { secrets } = await api("GET", "secrets");
      if (!secrets.length) { body.replaceChildren(notice("info", "No named secrets yet. Create one with `conexor secrets add NAME`; connections then reference it by name.")); return; }
      body.replaceChildren(table(["Name", "Kind", "Version", "Used by"], secrets.map((s) => [s.name, s.kind, s.version, (s.used_by || []).join(", ")])));
      return;
    }
    const kinds = TABS.find(([id]) => id === tab)?.[2] ?? [];
    const { connections } = await api("GET", "connections");
    const shown = connections.filter((c) => kinds.includes(c.type));
    if (!shown.length) {
      const kind = Object.entries(KINDS).find(([, v]) => v.tab === tab)?.[0] ?? "postgresql";
      body.replaceChildren(notice("info", "No connections of this kind yet."), el("p", {}, el("a", { href: `#/add?type=${kind}` }, `Add a ${KINDS[kind].label} connection`)));
      return;
    }
    body.replaceChildren(table(
      ["Name", "Type", "Mode", "Found", "Last schema refresh", ""],
      shown.map((c) => [
        el("a", { href: `#/connection?name=${encodeURIComponent(c.name)}` }, c.name), c.type, c.mode,
        c.operations != null ? `${c.operations} operations` : c.buckets != null ? `${c.buckets} buckets` : c.tables != null ? `${c.tables} tables` : "",
        when(c.discovered_at || c.updated_at),
        c.mode === "direct" ? el("button", { class: "danger", on: { click: () => removeConnection(c.name, tab) } }, "Remove") : "",
      ]),
    ));
  } catch (err) {
    if (err.status !== 401) body.replaceChildren(notice("error", err.message));
  }
}

async function removeConnection(name, tab) {
  if (!confirm(`Remove the connection ${name}? Its tools disappear at once.`)) return;
  try { await api("DELETE", `connections/${encodeURIComponent(name)}`); } catch (err) { alert(err.message); }
  renderConnections(tab);
}

function table(headings, rows) {
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v)))))));
}

/** `2026-12-03T14:34:27.928Z` as `2026-12-03 14:34` (UTC). */
function when(ts) {
  return ts ? `${String(ts).replace("T", " ").slice(0, 16)} UTC` : "";
}

// ---------------------------------------------------------------- add connection

const DEFAULT_PORTS = { postgresql: 5432, mysql: 3306, sqlserver: 1433 };

// The fields of each kind, as its users know them (DESIGN §3). `key` is the
// spec member; `secret` fields are sealed with the rest and never shown again.
const SQL_FIELDS = [
  { id: "host", label: "Host", required: true, placeholder: "db.internal" },
  { id: "port", label: "Port", type: "number", required: true },
  { id: "database", label: "Database", placeholder: "shop" },
  { id: "user", key: "username", label: "User", required: true, help: "A read-only login is best: the test says when this one can do more." },
  { id: "password", label: "Password", type: "password" },
  { id: "ssl", key: "ssl_mode", label: "SSL mode", options: ["prefer", "disable", "require", "verify-ca", "verify-full"], only: ["postgresql", "mysql"] },
];
const KINDS = {
  postgresql: { label: "PostgreSQL", tab: "database", fields: SQL_FIELDS },
  mysql: { label: "MySQL / MariaDB", tab: "database", fields: SQL_FIELDS },
  sqlserver: { label: "SQL Server / Azure SQL", tab: "database", fields: SQL_FIELDS },
  s3: { label: "S3 or S3-compatible", tab: "storage", fields: [
    { id: "access_key_id", label: "Access key id", required: true },
    { id: "secret_access_key", label: "Secret access key", type: "password", required: true },
    { id: "region", label: "Region", placeholder: "us-east-1" },
    { id: "endpoint", label: "Custom endpoint", placeholder: "https://minio.internal:9000", help: "For MinIO, Ceph, R2…; empty for AWS." },
    { id: "allow", label: "Allowed buckets", placeholder: "analytics/exports/, logs", list: true, help: "bucket or bucket/prefix, comma-separated; empty: every bucket the key can read." },
    { id: "allow_http", label: "Allow plain http (a local test server)", type: "checkbox" },
  ] },
  kafka: { label: "Kafka", tab: "kafka", fields: [
    { id: "bootstrap_servers", label: "Bootstrap servers", required: true, placeholder: "broker1:9092,broker2:9092" },
    { id: "security_protocol", label: "Security protocol", options: ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] },
    { id: "sasl_mechanism", label: "SASL mechanism", options: ["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] },
    { id: "username", label: "User" },
    { id: "password", label: "Password", type: "password" },
    { id: "schema_registry_url", label: "Schema registry URL", placeholder: "https://registry.internal:8081", help: "Decodes Avro and JSON Schema values." },
  ] },
  rest: { label: "REST API (OpenAPI)", tab: "rest", fields: [
    { id: "base_url", label: "Base URL", required: true, placeholder: "https://api.example.com/v1", help: "Every request goes to this origin, under this path." },
    { id: "openapi", label: "OpenAPI description (JSON or YAML file)", type: "file", required: true },
    { id: "auth", label: "Auth", options: ["none", "bearer", "header", "query", "basic"] },
    { id: "auth_name", label: "Header, query parameter or user name", placeholder: "X-API-Key" },
    { id: "token", label: "Token, API key or password", type: "password" },
    { id: "enable", label: "Enable", list: true, placeholder: "tag:orders, path:/customers/*", help: "Empty: every read operation." },
    { id: "allow_http", label: "Allow plain http (a local test server)", type: "checkbox" },
  ] },
};

function field(label, input, help) {
  const id = input.id;
  return el("div", { class: "field" }, el("label", { for: id }, label), input, help ? el("p", { class: "help" }, help) : null);
}

function renderAdd() {
  const kindParam = new URLSearchParams((location.hash.split("?")[1]) || "").get("type");
  const name = el("input", { id: "f-name", required: true, pattern: "[A-Za-z][A-Za-z0-9_-]{0,63}", placeholder: "shop" });
  const type = el("select", { id: "f-type" }, ...Object.entries(KINDS).map(([k, v]) => el("option", { value: k }, v.label)));
  if (KINDS[kindParam]) type.value = kindParam;
  const privileged = el("input", { id: "f-privileged", type: "checkbox" });
  const fieldsBox = el("div");
  let inputs = {};
  const drawFields = () => {
    const kind = type.value;
    inputs = {};
    fieldsBox.replaceChildren(...KINDS[kind].fields.filter((d) => !d.only || d.only.includes(kind)).map((d) => {
      const id = `f-${d.id}`;
      let input;
      if (d.options) input = el("select", { id }, ...d.options.map((o) => el("option", { value: o }, o || "(none)")));
      else if (d.type === "checkbox") input = el("input", { id, type: "checkbox" });
      else if (d.type === "file") input = el("input", { id, type: "file", accept: ".json,.yaml,.yml,application/json" });
      else input = el("input", { id, type: d.type || "text", placeholder: d.placeholder, autocomplete: d.type === "password" ? "new-password" : "off" });
      if (d.id === "port") input.value = DEFAULT_PORTS[kind];
      inputs[d.id] = { input, d };
      if (d.type === "checkbox") return el("div", { class: "field inline" }, input, el("label", { for: id }, d.label));
      return field(d.label, input, d.help);
    }));
  };
  type.addEventListener("change", drawFields);
  drawFields();
  const out = el("div", { "aria-live": "polite" });
  const test = el("button", { type: "button" }, "Test");
  const save = el("button", { type: "submit" }, "Save");
  const form = el("form", { class: "card", novalidate: true, on: { submit: (e) => { e.preventDefault(); send(true); } } },
    el("p", { class: "help" }, "Direct mode: the server connects. Credentials are sealed in this tab with your workspace key before they are sent; the request carries only the envelope. (Agent mode: create an agent on the Agents page; its connections live in its agent.toml.)"),
    field("Name", name, "Letters, digits, _ and -, starting with a letter."),
    field("Type", type),
    fieldsBox,
    el("div", { class: "field inline" }, privileged, el("label", { for: "f-privileged" }, "Accept a login that can do more than read")),
    el("div", { class: "actions" }, test, save),
    out,
  );
  test.addEventListener("click", () => send(false));

  /** The spec's JSON, or [input, why] when a field is wrong. */
  async function spec() {
    if (!name.checkValidity()) return [name, "The name is 1-64 letters, digits, _ or -, starting with a letter."];
    const kind = type.value;
    const out = {};
    for (const { input, d } of Object.values(inputs)) {
      const key = d.key || d.id;
      if (d.type === "checkbox") { if (input.checked) out[key] = true; continue; }
      if (d.type === "file") {
        const file = input.files?.[0];
        if (!file) return [input, `${d.label}: choose the file.`];
        if (file.size > 32 * 1024 * 1024) return [input, "The description is larger than 32 MB."];
        out[key] = await file.text();
        continue;
      }
      const value = input.value.trim();
      if (!value) {
        if (d.required) return [input, `${d.label} is required.`];
        continue;
      }
      if (d.type === "number") {
        const n = Number(value);
        if (!(Number.isInteger(n) && n >= 1 && n <= 65535)) return [input, `${d.label} is a number from 1 to 65535.`];
        out[key] = n;
      } else if (d.list) out[key] = value.split(",").map((v) => v.trim()).filter(Boolean);
      else out[key] = d.type === "password" ? input.value : value;
    }
    if (kind === "rest" && out.auth === "none") delete out.auth;
    if (kind === "kafka" && !out.sasl_mechanism) delete out.sasl_mechanism;
    return [null, JSON.stringify(out)];
  }

  async function send(saveIt) {
    out.replaceChildren();
    for (const { input } of Object.values(inputs)) input.removeAttribute("aria-invalid");
    const [bad, json] = await spec();
    if (bad) { bad.setAttribute("aria-invalid", "true"); bad.focus(); out.append(notice("error", json ?? "")); return; }
    test.disabled = save.disabled = true;
    out.append(notice("info", saveIt ? "Testing and discovering…" : "Testing…"));
    try {
      const secretId = cx.newSecretId();
      const sealed = await cx.sealSecret(state.unlocked, secretId, json);
      const body = { name: name.value, type: type.value, secret_id: secretId, sealed, allow_privileged: privileged.checked };
      const answer = await api("POST", saveIt ? "connections" : "connections/test", body);
      const t = answer.test;
      const found = answer.operations != null ? `${answer.operations} operations (${answer.tools?.count} tools, ${answer.tools?.bytes} bytes in tools/list)`
        : answer.topics != null ? `${answer.topics} topics` : answer.buckets ? `${answer.buckets} buckets` : `${answer.tables ?? 0} tables and views`;
      out.replaceChildren(
        notice("ok", saveIt ? `Saved. ${found} discovered.` : "The connection works."),
        el("p", {}, `Source: ${t.version}`), el("p", {}, `Latency: ${t.latency_ms} ms`),
      );
      if (t.privileges?.length) {
        out.append(notice("warn", `This login can do more than read: ${t.privileges.join("; ")}`), el("pre", {}, t.read_only_grants));
      }
      if (saveIt) for (const { input, d } of Object.values(inputs)) if (d.type === "password") input.value = "";
    } catch (err) {
      if (err.status !== 401) {
        // The server's words are for the CLI too: the grants go in their own block.
        const grants = /\nA read-only login:\n([\s\S]*)$/.exec(err.message);
        const text = err.message
          .replace(/\nA read-only login:\n[\s\S]*$/, "")
          .replace("pass --allow-privileged to accept it", "tick \u201cAccept a login that can do more than read\u201d to accept it");
        out.replaceChildren(notice("error", text));
        if (grants) out.append(el("p", {}, "A read-only login:"), el("pre", {}, grants[1]));
      }
    } finally {
      test.disabled = save.disabled = false;
    }
  }

  shell("#/add", el("h1", {}, "Add a connection"), form);
  name.focus();
}

// ---------------------------------------------------------------- audit

async function renderAudit() {
  const tool = el("input", { id: "audit-tool", placeholder: "run_query, admin.connection_add…" });
  const outcome = el("select", { id: "audit-outcome" }, ...["", "ok", "denied", "error"].map((o) => el("option", { value: o }, o || "any")));
  const filter = el("input", { id: "audit-filter", type: "search", placeholder: "user, connection, error…" });
  const body = el("div", { "aria-live": "polite" });
  const more = el("button", { type: "button", hidden: true }, "Load older records");
  const detail = el("div");
  const download = (format) => el("button", { type: "button", on: { click: async () => {
    try {
      const text = await api("GET", `audit/export?format=${format}`);
      const blob = new Blob([typeof text === "string" ? text : JSON.stringify(text)], { type: "text/plain" });
      const a = el("a", { href: URL.createObjectURL(blob), download: `conexor-audit.${format === "csv" ? "csv" : "jsonl"}` });
      document.body.append(a); a.click(); a.remove();
    } catch (err) { alert(err.message); }
  } } }, `Export ${format.toUpperCase()}`);
  shell("#/audit", el("h1", {}, "Audit"),
    el("div", { class: "actions" }, field("Tool", tool), field("Outcome", outcome), field("Filter", filter)),
    el("div", { class: "actions" }, download("jsonl"), download("csv"), download("ocsf")),
    body, more, detail);
  let records = [];
  let next = null;
  const load = async (fresh) => {
    if (fresh) { records = []; next = null; }
    const q = new URLSearchParams({ limit: "100" });
    if (next != null) q.set("before", String(next));
    if (tool.value.trim()) q.set("tool", tool.value.trim());
    if (outcome.value) q.set("outcome", outcome.value);
    try {
      const page = await api("GET", `audit/records?${q}`);
      records = records.concat(page.records);
      next = page.next;
      more.hidden = next == null;
      draw();
    } catch (err) {
      if (err.status !== 401) body.replaceChildren(notice("error", err.message));
    }
  };
  const draw = () => {
    const q = filter.value.toLowerCase();
    const shown = records.filter((r) => !q || [r.user, r.connection, r.error, r.client].some((v) => v && String(v).toLowerCase().includes(q)));
    if (!shown.length) { body.replaceChildren(notice("info", "No records match.")); return; }
    body.replaceChildren(table(["#", "Time", "User", "Tool", "Connection", "Outcome", "Rows", "ms"], shown.map((r) => [
      el("button", { class: "link", on: { click: () => detail.replaceChildren(el("h2", {}, `Record ${r.seq}`), el("pre", {}, JSON.stringify(r, null, 2))) } }, String(r.seq)),
      when(r.ts), r.user ?? "", r.tool, r.connection ?? "", r.error ? `${r.outcome}: ${r.error}` : r.outcome, r.rows ?? "", r.duration_ms,
    ])));
  };
  tool.addEventListener("change", () => load(true));
  outcome.addEventListener("change", () => load(true));
  filter.addEventListener("input", draw);
  more.addEventListener("click", () => load(false));
  await load(true);
}

// ---------------------------------------------------------------- connection detail

async function renderDetail(name) {
  const body = el("div", { "aria-live": "polite" }, notice("info", "Loading…"));
  shell("#/connections", el("p", {}, el("a", { href: "#/connections" }, "← Connections")), el("h1", {}, name), body);
  let c;
  try { c = await api("GET", `connections/${encodeURIComponent(name)}`); } catch (err) {
    if (err.status !== 401) body.replaceChildren(notice("error", err.message));
    return;
  }
  const status = el("div", { "aria-live": "polite" });
  const refresh = el("button", { type: "button", on: { click: async () => {
    refresh.disabled = true;
    status.replaceChildren(notice("info", "Rediscovering the schema…"));
    try { await api("POST", `connections/${encodeURIComponent(name)}/refresh`); renderDetail(name); }
    catch (err) { if (err.status !== 401) status.replaceChildren(notice("error", err.message)); refresh.disabled = false; }
  } } }, "Refresh schema");
  const schema = c.schema || {};
  const parts = [
    el("p", {}, `${c.type}, ${c.mode}${c.discovered_at ? `; schema discovered ${when(c.discovered_at)}` : ""}`),
    el("div", { class: "actions" }, refresh), status,
  ];
  if (schema.tables) parts.push(schemaBrowser(schema.tables), queryTester(name));
  if (schema.buckets?.length) parts.push(el("h2", {}, "Buckets"), table(["Bucket", "Scope", "Top-level prefixes"], schema.buckets.map((b) => [b.name, b.scope ?? "", (b.prefixes || []).join(", ")])));
  if (schema.topics?.length) parts.push(el("h2", {}, "Topics"), table(["Topic", "Partitions"], schema.topics.map((t) => [t.name, t.partitions])));
  if (schema.api) parts.push(el("h2", {}, `${schema.api.title} ${schema.api.version}`), table(["Operation", "Method", "Path", "Summary"], schema.api.operations.map((o) => [o.tool, o.method, o.path, o.summary ?? ""])));
  body.replaceChildren(...parts);
}

function schemaBrowser(tables) {
  const search = el("input", { id: "s-search", type: "search", placeholder: "table or column name" });
  const out = el("div");
  const draw = () => {
    const q = search.value.toLowerCase();
    const shown = tables.filter((t) => !q || t.name.toLowerCase().includes(q) || t.columns.some((col) => col.name.toLowerCase().includes(q))).slice(0, 200);
    if (!shown.length) { out.replaceChildren(notice("info", "No table or column matches.")); return; }
    out.replaceChildren(...shown.map((t) => el("details", { class: "card" },
      el("summary", {}, `${t.schema}.${t.name}`, el("span", { class: "help" }, ` ${t.kind}${t.row_estimate != null ? `, about ${t.row_estimate} rows` : ""}${t.comment ? ` — ${t.comment}` : ""}`)),
      table(["Column", "Type", "Null", "Key", "Comment"], t.columns.map((col) => [
        col.name, col.type, col.nullable ? "yes" : "no",
        (t.primary_key || []).includes(col.name) ? "primary" : (t.foreign_keys || []).filter((fk) => fk.columns.includes(col.name)).map((fk) => `→ ${fk.references_table}`).join(", "),
        col.comment ?? "",
      ])))));
  };
  search.addEventListener("input", draw);
  draw();
  return el("section", {}, el("h2", {}, `Schema (${tables.length} tables and views)`), field("Search", search), out);
}

function queryTester(connection) {
  const sql = el("textarea", { id: "q-sql", rows: 4, spellcheck: "false", placeholder: "SELECT …" });
  const limit = el("input", { id: "q-limit", type: "number", min: 1, max: 10000, value: 100 });
  const out = el("div", { "aria-live": "polite" });
  const run = el("button", { type: "submit" }, "Run");
  return el("form", { class: "card", on: { submit: async (e) => {
    e.preventDefault();
    out.replaceChildren();
    if (!sql.value.trim()) { out.append(notice("error", "Write a SELECT first.")); return; }
    run.disabled = true;
    try {
      const r = await api("POST", "query", { connection, sql: sql.value, limit: Number(limit.value) || 100 });
      const cols = (r.columns || []).map((col) => col.name ?? col);
      out.replaceChildren(
        notice(r.truncated ? "warn" : "ok", `${(r.rows || []).length} rows${r.truncated ? ` — cut at the row or byte cap; there is more` : ""}`),
        table(cols, (r.rows || []).map((row) => row.map((v) => (v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : v)))),
      );
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { run.disabled = false; }
  } } }, el("h2", {}, "Try a query (as the AI's run_query)"), field("SQL", sql, "One SELECT; it runs through the same guard, caps and audit as an AI's call."), field("Row limit", limit), run, out);
}

// ---------------------------------------------------------------- API keys

async function renderKeys() {
  const label = el("input", { id: "k-label", required: true, maxlength: 100, placeholder: "Claude Desktop" });
  const scope = el("select", { id: "k-scope" }, el("option", { value: "mcp" }, "mcp — tools only"), el("option", { value: "admin" }, "admin — manage too"));
  const out = el("div", { "aria-live": "polite" });
  const list = el("div", {}, notice("info", "Loading…"));
  const create = el("button", { type: "submit" }, "Create key");
  const form = el("form", { class: "card", on: { submit: async (e) => {
    e.preventDefault();
    out.replaceChildren();
    if (!label.value.trim()) { label.setAttribute("aria-invalid", "true"); out.append(notice("error", "Give the key a label (who or what uses it).")); return; }
    create.disabled = true;
    out.append(notice("info", "Making the key here and wrapping the workspace key for it (PBKDF2, 600,000 rounds)…"));
    try {
      const { text, record } = await cx.newKeyRecord(state.unlocked, label.value.trim(), scope.value);
      await api("POST", "keys", record);
      const shown = el("pre", { class: "secret" }, text);
      out.replaceChildren(notice("ok", "Key created. Copy it now: it is shown once and the server cannot show it again."), shown,
        el("button", { type: "button", on: { click: (ev) => navigator.clipboard?.writeText(text).then(() => { ev.target.textContent = "Copied"; }) } }, "Copy"));
      label.value = "";
      draw();
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { create.disabled = false; }
  } } }, el("h2", {}, "New key"), field("Label", label), field("Scope", scope, "An MCP client needs only mcp."), create, out);
  shell("#/keys", el("h1", {}, "API keys"), form, list);
  async function draw() {
    try {
      const { keys } = await api("GET", "keys");
      list.replaceChildren(table(["Key id", "Label", "Scope", "Created", "Revoked", ""], keys.map((k) => [
        k.key_id + (k.current ? " (this one)" : ""), k.label, k.scope, when(k.created_at), when(k.revoked_at),
        k.revoked_at || k.current ? "" : el("button", { class: "danger", on: { click: async () => {
          if (!confirm(`Revoke the key ${k.key_id} (${k.label})? Clients using it are refused at once.`)) return;
          try { await api("DELETE", `keys/${encodeURIComponent(k.key_id)}`); } catch (err) { alert(err.message); }
          draw();
        } } }, "Revoke"),
      ])));
    } catch (err) {
      if (err.status !== 401) list.replaceChildren(notice("error", err.message));
    }
  }
  draw();
}

// ---------------------------------------------------------------- agents

async function renderAgents() {
  const name = el("input", { id: "a-name", required: true, pattern: "[A-Za-z0-9_.-]{1,64}", placeholder: "dc1" });
  const hours = el("input", { id: "a-hours", type: "number", min: 1, max: 168, value: 1 });
  const out = el("div", { "aria-live": "polite" });
  const list = el("div", {}, notice("info", "Loading…"));
  const form = el("form", { class: "card", on: { submit: async (e) => {
    e.preventDefault();
    out.replaceChildren();
    if (!name.checkValidity()) { name.setAttribute("aria-invalid", "true"); out.append(notice("error", "The name is 1-64 letters, digits, _ - or .")); return; }
    try {
      const a = await api("POST", "agents", { name: name.value, expires_in_s: Math.round(Number(hours.value) * 3600) });
      const toml = `server = "${location.origin}"\ntoken_env = "CONEXOR_AGENT_TOKEN"\nstate_dir = "/var/lib/conexor-agent"\n[[connections]]\nname = "warehouse"\nurl_env = "WAREHOUSE_URL"\n`;
      out.replaceChildren(
        notice("ok", `Agent ${a.name} created. Its one-time enrolment token is shown once; it expires ${when(a.expires_at)}.`),
        el("pre", { class: "secret" }, a.token),
        el("p", {}, "agent.toml, next to the databases (the agent dials out; the server never dials in):"),
        el("pre", {}, toml),
        el("p", { class: "help" }, "Then: CONEXOR_AGENT_TOKEN=<the token> conexor agent --config agent.toml"),
      );
      name.value = "";
      draw();
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    }
  } } }, el("h2", {}, "New agent"), field("Name", name), field("Token valid for (hours)", hours), el("button", { type: "submit" }, "Create agent"), out);
  shell("#/agents", el("h1", {}, "Agents"), form, list);
  async function draw() {
    try {
      const { agents } = await api("GET", "agents");
      if (!agents.length) { list.replaceChildren(notice("info", "No agents yet. An agent serves connections from inside your network over an outbound connection.")); return; }
      list.replaceChildren(table(["Name", "State", "Last seen", "Version", "Address", "Connections", ""], agents.map((a) => [
        a.name, a.state, when(a.last_seen_at), a.version ?? "", a.address ?? "", (a.connections || []).join(", "),
        a.state === "revoked" ? "" : el("button", { class: "danger", on: { click: async () => {
          if (!confirm(`Revoke the agent ${a.name}? It is cut off at once and its connections disappear.`)) return;
          try { await api("DELETE", `agents/${encodeURIComponent(a.agent_id)}`); } catch (err) { alert(err.message); }
          draw();
        } } }, "Revoke"),
      ])));
    } catch (err) {
      if (err.status !== 401) list.replaceChildren(notice("error", err.message));
    }
  }
  draw();
}

// ---------------------------------------------------------------- connect a client

function renderClient() {
  const mcp = `${location.origin}/mcp`;
  const configs = [
    ["Cursor (.cursor/mcp.json)", { mcpServers: { conexor: { url: mcp, headers: { Authorization: "Bearer ${env:CONEXOR_API_KEY}" } } } }],
    ["VS Code (.vscode/mcp.json)", { inputs: [{ type: "promptString", id: "conexor-key", description: "Conexor MCP key", password: true }], servers: { conexor: { type: "http", url: mcp, headers: { Authorization: "Bearer ${input:conexor-key}" } } } }],
    ["Claude Desktop (claude_desktop_config.json; the command is `conexor export client --for claude-desktop`, which names the binary by its path)", { mcpServers: { conexor: { command: "/path/to/conexor", args: ["mcp", "--server", location.origin], env: { CONEXOR_API_KEY: "PASTE_AN_MCP_KEY" } } } }],
  ];
  shell("#/client", el("h1", {}, "Connect a client"),
    el("p", { class: "help" }, "No key is written into these: create an MCP key with `conexor keys create --scope mcp` and give it to the client as shown."),
    ...configs.map(([title, value]) => {
      const text = JSON.stringify(value, null, 2);
      return el("section", { class: "card" }, el("h2", {}, title), el("pre", {}, text),
        el("button", { type: "button", on: { click: (e) => navigator.clipboard?.writeText(text).then(() => { e.target.textContent = "Copied"; }) } }, "Copy"));
    }));
}

window.addEventListener("hashchange", route);
route();
