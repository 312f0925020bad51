// The Conexor dashboard: plain ES modules, no framework and no build step.
// Everything shown is set as text (never as HTML), so a name from a source
// cannot become markup; the API key lives in this module's memory only and
// travels only as a bearer token; connection specs are sealed in crypto.js
// before any request carries them.

import * as cx from "./crypto.js";
import * as client from "./client.js";
import { state, app, el, signOut, notice, shell, table, when, field } from "./ui.js";
import { renderDetail } from "./detail.js";
import { renderQueries } from "./queries.js";

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
      state.self = await client.keySelf();
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
  if (page === "#/queries") return renderQueries();
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
      const { secrets } = await client.listSecrets();
      if (!secrets.length) { body.replaceChildren(notice("info", "No named secrets yet. Create one with `conexor secrets add NAME`; connections then reference it by name.")); return; }
      body.replaceChildren(table(["Name", "Kind", "Version", "Used by"], secrets.map((s) => [s.name, s.kind, s.version, (s.used_by || []).join(", ")])));
      return;
    }
    const kinds = TABS.find(([id]) => id === tab)?.[2] ?? [];
    const [{ connections }, { tools }] = await Promise.all([client.listConnections(), client.listTools()]);
    const toolCount = (name) => tools.filter((t) => t.connection === name).length;
    const shown = connections.filter((c) => kinds.includes(c.type));
    if (!shown.length) {
      const kind = Object.entries(KINDS).find(([, v]) => v.tab === tab)?.[0] ?? "postgresql";
      body.replaceChildren(notice("info", "No connections of this kind yet."), el("p", {}, el("a", { href: `#/add?type=${kind}` }, `Add a ${KINDS[kind].label} connection`)));
      return;
    }
    body.replaceChildren(table(
      ["Name", "Type", "Mode", "Status", "Found", "Own tools", "Last schema refresh", ""],
      shown.map((c) => [
        el("a", { href: `#/connection?name=${encodeURIComponent(c.name)}` }, c.name), c.type,
        c.mode === "agent" ? `agent ${c.agent}` : "direct",
        c.mode === "agent" ? (c.online ? "online" : "offline: its agent is not connected") : c.discovered_at ? "ready" : "no schema yet",
        c.operations != null ? `${c.operations} operations` : c.buckets != null ? `${c.buckets} buckets` : c.tables != null ? `${c.tables} tables` : "",
        String(toolCount(c.name)),
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
  try { await client.removeConnection(name); } catch (err) { alert(err.message); }
  renderConnections(tab);
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

async function renderAdd() {
  const params = new URLSearchParams((location.hash.split("?")[1]) || "");
  const kindParam = params.get("type");
  const editing = params.get("edit");
  // Editing: the stored spec is opened here, with the workspace key; the
  // server only hands back the envelopes it keeps.
  let old = null;
  if (editing) {
    shell("#/add", el("h1", {}, `Edit ${editing}`), notice("info", "Opening the stored settings in this tab…"));
    try {
      const stored = await client.sealedSpec(editing);
      old = { type: stored.type, spec: JSON.parse(await cx.openSecret(state.unlocked, stored.secret_id, stored.sealed)) };
    } catch (err) {
      if (err.status !== 401) shell("#/add", el("h1", {}, `Edit ${editing}`), notice("error", err.message));
      return;
    }
  }
  const name = el("input", { id: "f-name", required: true, pattern: "[A-Za-z][A-Za-z0-9_-]{0,63}", placeholder: "shop" });
  const type = el("select", { id: "f-type" }, ...Object.entries(KINDS).map(([k, v]) => el("option", { value: k }, v.label)));
  if (KINDS[kindParam]) type.value = kindParam;
  if (old) {
    name.value = editing; name.readOnly = true;
    if (!KINDS[old.type]) { shell("#/add", el("h1", {}, `Edit ${editing}`), notice("error", `A ${old.type} connection is edited with the CLI: conexor connections edit ${editing}.`)); return; }
    type.value = old.type; type.disabled = true;
  }
  const privileged = el("input", { id: "f-privileged", type: "checkbox" });
  const mode = el("select", { id: "f-mode" },
    el("option", { value: "direct" }, "Direct: this server connects to the source"),
    el("option", { value: "agent" }, "Agent: an agent inside your network connects; this server never dials in"));
  const fieldsBox = el("div");
  let inputs = {};
  const drawFields = () => {
    const kind = type.value;
    const agent = mode.value === "agent";
    inputs = {};
    // Behind an agent, secrets and files stay on the agent's machine.
    const shown = KINDS[kind].fields.filter((d) => (!d.only || d.only.includes(kind)) && !(agent && (d.type === "password" || d.type === "file")));
    for (const n of [test, save]) n.hidden = agent;
    makeToml.hidden = !agent;
    privilegedBox.hidden = agent;
    out.replaceChildren();
    fieldsBox.replaceChildren(...shown.map((d) => {
      const id = `f-${d.id}`;
      let input;
      if (d.options) input = el("select", { id }, ...d.options.map((o) => el("option", { value: o }, o || "(none)")));
      else if (d.type === "checkbox") input = el("input", { id, type: "checkbox" });
      else if (d.type === "file") input = el("input", { id, type: "file", accept: ".json,.yaml,.yml,application/json" });
      else input = el("input", { id, type: d.type || "text", placeholder: d.placeholder, autocomplete: d.type === "password" ? "new-password" : "off" });
      if (d.id === "port") input.value = DEFAULT_PORTS[kind];
      const was = old?.spec[d.key || d.id];
      let help = d.help;
      if (was !== undefined && was !== null) {
        if (d.type === "password") { input.placeholder = "unchanged (leave empty to keep it)"; }
        else if (d.type === "file") help = `A description of ${Math.ceil(String(was).length / 1024)} KB is stored; choose a file only to replace it.`;
        else if (d.type === "checkbox") input.checked = Boolean(was);
        else input.value = Array.isArray(was) ? was.join(", ") : String(was);
      }
      inputs[d.id] = { input, d };
      if (d.type === "checkbox") return el("div", { class: "field inline" }, input, el("label", { for: id }, d.label));
      return field(d.label, input, help);
    }));
  };
  const out = el("div", { "aria-live": "polite" });
  const test = el("button", { type: "button" }, "Test");
  const save = el("button", { type: "submit" }, "Save");
  const makeToml = el("button", { type: "button", on: { click: () => agentToml() } }, "Make the agent.toml block");
  const privilegedBox = el("div", { class: "field inline" }, privileged, el("label", { for: "f-privileged" }, "Accept a login that can do more than read"));
  type.addEventListener("change", drawFields);
  mode.addEventListener("change", drawFields);
  drawFields();
  // Enter in a field submits: behind an agent that makes the block, never a save.
  const form = el("form", { class: "card", novalidate: true, on: { submit: (e) => { e.preventDefault(); if (mode.value === "agent") agentToml(); else send(true); } } },
    old ? null : field("Mode", mode, "Direct: credentials are sealed in this tab with your workspace key; the request carries only the envelope. Agent: the connection and its credentials live in the agent's agent.toml and never reach this server."),
    field("Name", name, "Letters, digits, _ and -, starting with a letter."),
    field("Type", type),
    fieldsBox,
    privilegedBox,
    el("div", { class: "actions" }, test, save, makeToml),
    out,
  );
  test.addEventListener("click", () => send(false));

  /**
   * Agent mode: the `[[connections]]` block for the agent's agent.toml, with
   * every secret named by an environment variable set on the agent's
   * machine (nothing secret is typed here or sent anywhere).
   */
  async function agentToml() {
    out.replaceChildren();
    for (const { input } of Object.values(inputs)) input.removeAttribute("aria-invalid");
    if (!name.checkValidity()) { name.setAttribute("aria-invalid", "true"); name.focus(); out.append(notice("error", "The name is 1-64 letters, digits, _ or -, starting with a letter.")); return; }
    const kind = type.value;
    const v = {};
    for (const { input, d } of Object.values(inputs)) {
      const value = d.type === "checkbox" ? input.checked : input.value.trim();
      if (d.required && !value) { input.setAttribute("aria-invalid", "true"); input.focus(); out.append(notice("error", `${d.label} is required.`)); return; }
      v[d.id] = value;
    }
    const env = name.value.toUpperCase().replace(/[^A-Z0-9]/g, "_");
    const q = (text) => JSON.stringify(String(text));
    const lines = ["[[connections]]", `name = ${q(name.value)}`];
    const set = [];
    if (kind === "sqlserver") {
      // The agent reads SQL Server's own connection-string form.
      lines.push('type = "sqlserver"', `url_env = ${q(`${env}_URL`)}`);
      set.push(`${env}_URL='Server=tcp:${v.host},${v.port};Database=${v.database};User ID=${v.user};Password=<password>'`);
    } else if (KINDS[kind].tab === "database") {
      const query = v.ssl && v.ssl !== "prefer" ? `?sslmode=${v.ssl}` : "";
      lines.push(`url_env = ${q(`${env}_URL`)}`);
      set.push(`${env}_URL='${kind}://${encodeURIComponent(v.user)}:<password>@${v.host}:${v.port}/${encodeURIComponent(v.database || "")}${query}'`);
    } else if (kind === "s3") {
      lines.push('type = "s3"', `access_key_id = ${q(v.access_key_id)}`, `secret_access_key_env = ${q(`${env}_SECRET_ACCESS_KEY`)}`);
      if (v.region) lines.push(`region = ${q(v.region)}`);
      if (v.endpoint) lines.push(`endpoint = ${q(v.endpoint)}`);
      if (v.allow) lines.push(`allow = [${v.allow.split(",").map((a) => a.trim()).filter(Boolean).map(q).join(", ")}]`);
      if (v.allow_http) lines.push("allow_http = true");
      set.push(`${env}_SECRET_ACCESS_KEY='<the secret access key>'`);
    } else if (kind === "kafka") {
      lines.push('type = "kafka"', `bootstrap_servers = ${q(v.bootstrap_servers)}`, `security_protocol = ${q(v.security_protocol)}`);
      if (v.sasl_mechanism) { lines.push(`sasl_mechanism = ${q(v.sasl_mechanism)}`, `username = ${q(v.username)}`, `password_env = ${q(`${env}_PASSWORD`)}`); set.push(`${env}_PASSWORD='<the SASL password>'`); }
      if (v.schema_registry_url) lines.push(`schema_registry_url = ${q(v.schema_registry_url)}`);
    } else if (kind === "rest") {
      lines.push('type = "rest"', `base_url = ${q(v.base_url)}`, `openapi_file = ${q(`/etc/conexor/${name.value}-openapi.json`)}`);
      if (v.auth && v.auth !== "none") { lines.push(`auth = ${q(v.auth)}`, `token_env = ${q(`${env}_TOKEN`)}`); set.push(`${env}_TOKEN='<the token>'`); }
      if (v.auth_name) lines.push(`auth_name = ${q(v.auth_name)}`);
      if (v.enable) lines.push(`enable = [${v.enable.split(",").map((a) => a.trim()).filter(Boolean).map(q).join(", ")}]`);
      if (v.allow_http) lines.push("allow_http = true");
    }
    let agents = [];
    try { agents = (await client.listAgents()).agents.filter((a) => a.state !== "revoked"); } catch { /* the list is a convenience */ }
    out.replaceChildren(
      notice("ok", "Add this block to the agent's agent.toml and restart it; the connection appears here, with its schema, when the agent connects."),
      el("pre", { id: "agent-toml" }, lines.join("\n")),
      set.length ? el("p", {}, "On the agent's machine (not here), set:") : null,
      set.length ? el("pre", {}, set.join("\n")) : null,
      kind === "rest" ? el("p", { class: "help" }, `Copy the OpenAPI description to /etc/conexor/${name.value}-openapi.json on the agent's machine (or change openapi_file).`) : null,
      el("p", {}, agents.length ? `Your agents: ${agents.map((a) => `${a.name} (${a.state})`).join(", ")}.` : "No agent yet: ", agents.length ? null : el("a", { href: "#/agents" }, "create one on the Agents page")),
    );
  }

  /** The spec's JSON, or [input, why] when a field is wrong. */
  async function spec() {
    if (!name.checkValidity()) return [name, "The name is 1-64 letters, digits, _ or -, starting with a letter."];
    const kind = type.value;
    // Editing keeps what the form does not show (a named secret, a CA…).
    const out = old ? { ...old.spec } : {};
    for (const { input, d } of Object.values(inputs)) {
      const key = d.key || d.id;
      const kept = old?.spec[key];
      delete out[key];
      if (d.type === "checkbox") { if (input.checked) out[key] = true; continue; }
      if (d.type === "password" && !input.value && kept != null) { out[key] = kept; continue; }
      if (d.type === "file") {
        const file = input.files?.[0];
        if (!file && kept != null) { out[key] = kept; continue; }
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
    // A value typed now replaces a named secret the stored spec referenced.
    for (const [value, secret] of [["password", "password_secret"], ["token", "token_secret"], ["secret_access_key", "secret_access_key_secret"]]) {
      if (old && out[value] != null && out[value] !== old.spec[value]) delete out[secret];
    }
    // No auth, no login: credentials kept from before are dropped, not carried.
    if (kind === "rest" && out.auth === "none") { delete out.auth; delete out.token; delete out.token_secret; delete out.auth_name; }
    if (kind === "kafka" && !out.sasl_mechanism) { delete out.sasl_mechanism; delete out.password; delete out.password_secret; }
    return [null, JSON.stringify(out)];
  }

  async function send(saveIt) {
    out.replaceChildren();
    for (const { input } of Object.values(inputs)) input.removeAttribute("aria-invalid");
    const [bad, json] = await spec();
    if (bad) { bad.setAttribute("aria-invalid", "true"); bad.focus(); out.append(notice("error", json ?? "")); return; }
    test.disabled = save.disabled = true;
    const doing = saveIt ? "Testing, then discovering the schema" : "Testing";
    const progress = notice("info", `${doing}…`);
    out.append(progress);
    const started = Date.now();
    const ticker = setInterval(() => { progress.textContent = `${doing}… ${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
    try {
      const secretId = cx.newSecretId();
      const sealed = await cx.sealSecret(state.unlocked, secretId, json);
      /** @type {import("./api").SealedConnection} */
      const body = { name: name.value, type: type.value, secret_id: secretId, sealed, allow_privileged: privileged.checked };
      let t, found = "";
      if (saveIt) {
        const saved = old ? await client.editConnection(editing, body) : await client.addConnection(body);
        t = saved.test;
        found = saved.operations != null ? `${saved.operations} operations (${saved.tools?.count} tools, ${saved.tools?.bytes} bytes in tools/list)`
          : saved.topics != null ? `${saved.topics} topics` : saved.buckets ? `${saved.buckets} buckets` : `${saved.tables} tables and views`;
      } else {
        t = (await client.testConnection(body)).test;
      }
      out.replaceChildren(
        notice("ok", saveIt ? `${old ? "Updated" : "Saved"}. ${found} discovered.` : "The connection works."),
        el("p", {}, `Source: ${t.version}`), el("p", {}, `Latency: ${t.latency_ms} ms`),
        saveIt ? el("p", {}, el("a", { href: `#/connection?name=${encodeURIComponent(name.value)}` }, `Open ${name.value}: schema, tools and testers`)) : null,
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
      clearInterval(ticker);
      test.disabled = save.disabled = false;
    }
  }

  shell("#/add", el("h1", {}, old ? `Edit ${editing}` : "Add a connection"), form);
  if (old) form.querySelector("input:not([readonly]), select:not([disabled])")?.focus();
  else name.focus();
}

// ---------------------------------------------------------------- audit

async function renderAudit() {
  const tool = el("input", { id: "audit-tool", placeholder: "run_query, admin.connection_add…" });
  const outcome = el("select", { id: "audit-outcome" }, ...["", "ok", "denied", "error"].map((o) => el("option", { value: o }, o || "any")));
  const filter = el("input", { id: "audit-filter", type: "search", placeholder: "user, key id, connection, error…" });
  // Local times in the inputs; sent as UTC.
  const since = el("input", { id: "audit-since", type: "datetime-local" });
  const until = el("input", { id: "audit-until", type: "datetime-local" });
  const body = el("div", { "aria-live": "polite" });
  const more = el("button", { type: "button", hidden: true }, "Load older records");
  const detail = el("div");
  const download = (format) => el("button", { type: "button", on: { click: async () => {
    try {
      const text = await client.exportAudit(format);
      const blob = new Blob([text], { type: "text/plain" });
      const a = el("a", { href: URL.createObjectURL(blob), download: `conexor-audit.${format === "csv" ? "csv" : "jsonl"}` });
      document.body.append(a); a.click(); a.remove();
    } catch (err) { alert(err.message); }
  } } }, `Export ${format.toUpperCase()}`);
  shell("#/audit", el("h1", {}, "Audit"), await verifyCard(),
    el("div", { class: "actions" }, field("Tool", tool), field("Outcome", outcome), field("From (your time)", since), field("To (your time)", until), field("Filter", filter)),
    el("div", { class: "actions" }, download("jsonl"), download("csv"), download("ocsf")),
    body, more, detail);
  let records = [];
  let next = null;
  // Filters change faster than answers come: only the latest load draws.
  let latest = 0;
  const load = async (fresh) => {
    const mine = ++latest;
    if (fresh) { records = []; next = null; }
    const q = new URLSearchParams({ limit: "100" });
    if (next != null) q.set("before", String(next));
    if (tool.value.trim()) q.set("tool", tool.value.trim());
    if (outcome.value) q.set("outcome", outcome.value);
    if (since.value) q.set("since", new Date(since.value).toISOString());
    if (until.value) q.set("until", new Date(until.value).toISOString());
    try {
      const page = await client.auditRecords(q);
      if (mine !== latest) return;
      records = records.concat(page.records);
      next = page.next;
      more.hidden = next == null;
      draw();
    } catch (err) {
      if (err.status !== 401 && mine === latest) body.replaceChildren(notice("error", err.message));
    }
  };
  const draw = () => {
    const q = filter.value.toLowerCase();
    const shown = records.filter((r) => !q || [r.user, r.key_id, r.connection, r.error, r.client].some((v) => v && String(v).toLowerCase().includes(q)));
    if (!shown.length) { body.replaceChildren(notice("info", "No records match.")); return; }
    body.replaceChildren(table(["#", "Time", "User", "Key", "Tool", "Connection", "Outcome", "Rows", "ms"], shown.map((r) => [
      el("button", { class: "link", on: { click: () => detail.replaceChildren(el("h2", {}, `Record ${r.seq}`), el("pre", {}, JSON.stringify(r, null, 2))) } }, String(r.seq)),
      when(r.ts), r.user ?? "", r.key_id ?? "", r.tool, r.connection ?? "", r.error ? `${r.outcome}: ${r.error}` : r.outcome, r.rows ?? "", r.duration_ms,
    ])));
  };
  tool.addEventListener("change", () => load(true));
  outcome.addEventListener("change", () => load(true));
  since.addEventListener("change", () => load(true));
  until.addEventListener("change", () => load(true));
  filter.addEventListener("input", draw);
  more.addEventListener("click", () => load(false));
  await load(true);
}

/**
 * The chain's state against the key the reader pinned: the server reads its
 * whole stored chain through the export and the offline verifier
 * (`GET /audit/verify`). An auditor who trusts no server runs
 * `conexor audit verify` on an export instead; the card says so.
 */
async function verifyCard() {
  let server = null;
  try { server = await client.auditKey(); } catch { /* shown by the check */ }
  const pinned = el("input", { id: "audit-pinned", spellcheck: "false", placeholder: "ed25519:…", autocomplete: "off" });
  const out = el("div", { "aria-live": "polite" });
  const run = el("button", { type: "submit" }, "Verify the chain");
  return el("form", { class: "card", novalidate: true, on: { submit: async (e) => {
    e.preventDefault();
    out.replaceChildren(notice("info", "Reading the whole chain and checking every hash and signature…"));
    run.disabled = true;
    try {
      const key = pinned.value.trim();
      const r = await client.verifyAudit(key);
      if (r.ok === true) {
        out.replaceChildren(notice(r.pinned ? "ok" : "warn", r.pinned
          ? `Intact: ${r.records} records (seq ${r.first_seq ?? "–"} to ${r.last_seq ?? "–"}), ${r.checkpoints} signed checkpoints, all valid under your pinned key. Head: seq ${r.head_seq}, signed ${when(r.head_ts)}. Checked in ${r.duration_ms} ms.`
          : `The chain is consistent (${r.records} records, ${r.checkpoints} checkpoints), but no key was pinned: the signatures were checked with the key the export names, which proves nothing about who signed. Paste the key you pinned when you set up.`));
      } else if (r.ok === false) {
        out.replaceChildren(notice("error", `NOT intact: line ${r.line} of the export: ${r.damage}: ${r.detail}`),
          el("p", { class: "help" }, "Export JSON Lines and run `conexor audit verify --pubkey <your pinned key> FILE` on a machine you trust to see the same finding."));
      }
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { run.disabled = false; }
  } } },
  el("h2", {}, "Chain verification"),
  field("Pinned public key", pinned, `The audit key you recorded when you set Conexor up (\`conexor audit pubkey\`). This server's key now: ${server ? server.pubkey : "unknown"}. Pinning the key shown here proves only that the server agrees with itself.`),
  run, out);
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
      await client.createKey(record);
      const shown = el("pre", { class: "secret" }, text);
      out.replaceChildren(notice("ok", "Key created. Copy it now: it is shown once and the server cannot show it again."), shown,
        el("button", { type: "button", on: { click: (ev) => navigator.clipboard?.writeText(text).then(() => { ev.target.textContent = "Copied"; }) } }, "Copy"));
      label.value = "";
      draw();
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { create.disabled = false; }
  } } }, el("h2", {}, "New key"), field("Label", label), field("Scope", scope, "An MCP client needs only mcp."), create, out);
  shell("#/keys", el("h1", {}, "API keys"), form, list, rotateCard(() => draw()));
  async function draw() {
    try {
      const { keys } = await client.listKeys();
      list.replaceChildren(table(["Key id", "Label", "Scope", "Created", "Last used", "Revoked", ""], keys.map((k) => [
        k.key_id + (k.current ? " (this one)" : ""), k.label, k.scope, when(k.created_at), k.last_used_at ? when(k.last_used_at) : "never", when(k.revoked_at),
        k.revoked_at || k.current ? "" : el("button", { class: "danger", on: { click: async () => {
          if (!confirm(`Revoke the key ${k.key_id} (${k.label})? Clients using it are refused at once.`)) return;
          try { await client.revokeKey(k.key_id); } catch (err) { alert(err.message); }
          draw();
        } } }, "Revoke"),
      ])));
    } catch (err) {
      if (err.status !== 401) list.replaceChildren(notice("error", err.message));
    }
  }
  draw();
}

/**
 * Rotating the workspace master key: made and applied in this tab (the
 * server never sees either key). Every other key stops opening anything, so
 * it is revoked, or reissued here with its label and scope and shown once.
 */
function rotateCard(redraw) {
  const reissue = el("input", { id: "r-reissue", type: "checkbox" });
  const out = el("div", { "aria-live": "polite" });
  const run = el("button", { type: "submit", class: "danger" }, "Rotate the master key");
  return el("form", { class: "card", on: { submit: async (e) => {
    e.preventDefault();
    if (!confirm(reissue.checked
      ? "Rotate the master key? Every other key is revoked and a new one is made for each, shown once here."
      : "Rotate the master key? Every other key is revoked at once; only this one keeps working.")) return;
    run.disabled = true;
    out.replaceChildren(notice("info", "Making the new key and re-wrapping every secret in this tab…"));
    try {
      const [{ deks }, { keys }] = await Promise.all([client.listDeks(), client.listKeys()]);
      const others = reissue.checked ? keys.filter((k) => !k.revoked_at && !k.current) : [];
      const { fresh, body, issued } = await cx.rotateMaster(state.unlocked, state.key, state.self, deks, others);
      const r = await client.rotateMaster(body);
      state.unlocked.wmk.fill(0);
      state.unlocked = fresh;
      state.self = await client.keySelf();
      out.replaceChildren(notice("ok", `Master key rotated: ${r.rewrapped} secrets re-wrapped, ${r.revoked.length} other keys revoked.`),
        ...(issued.length ? [notice("warn", "New keys for the revoked ones: give each to its owner now; they are shown once."),
          table(["Label", "Scope", "New key"], issued.map((k) => [k.label, k.scope, el("pre", { class: "secret" }, k.text)]))] : []));
      redraw();
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { run.disabled = false; }
  } } },
  el("h2", {}, "Rotate the master key"),
  el("p", { class: "help" }, "Do this when a key may have leaked together with a copy of the store: revoking a key alone does not re-encrypt what it could open. Secrets are re-wrapped in this tab; the server never sees the old or new key."),
  el("div", { class: "field inline" }, reissue, el("label", { for: "r-reissue" }, "Reissue the other active keys (new keys, same labels and scopes)")),
  run, out);
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
      const a = await client.createAgent({ name: name.value, expires_in_s: Math.round(Number(hours.value) * 3600) });
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
      const { agents } = await client.listAgents();
      if (!agents.length) { list.replaceChildren(notice("info", "No agents yet. An agent serves connections from inside your network over an outbound connection.")); return; }
      list.replaceChildren(table(["Name", "State", "Last seen", "Version", "Address", "Connections", ""], agents.map((a) => [
        a.name, a.state, when(a.last_seen_at), a.version ?? "", a.address ?? "", (a.connections || []).join(", "),
        a.state === "revoked" ? "" : el("button", { class: "danger", on: { click: async () => {
          if (!confirm(`Revoke the agent ${a.name}? It is cut off at once and its connections disappear.`)) return;
          try { await client.revokeAgent(a.agent_id); } catch (err) { alert(err.message); }
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

state.onSignedOut = renderSignIn;
window.addEventListener("hashchange", route);
route();
