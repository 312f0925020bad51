// A connection's page: what discovery found (a schema browser with search),
// the tools the connection gives an AI, a switch per table for its
// generated tool, and testers that call tools exactly as an AI would (the
// same guard, caps and audit), showing the rows as a table with the cap and
// any truncation in view.

import * as client from "./client.js";
import { el, notice, shell, table, when, field } from "./ui.js";

/** The built-in tools an AI uses with a connection of each family. */
const SHARED_TOOLS = {
  database: ["list_connections", "search_schema", "describe_table", "run_query"],
  objects: ["list_connections", "list_objects", "object_info", "read_object", "preview_object"],
  topics: ["list_connections", "list_topics", "peek_messages"],
  api: ["list_connections", "search_operations", "describe_operation", "call_operation"],
};

function family(type) {
  if (type === "s3") return "objects";
  if (type === "kafka") return "topics";
  if (type === "rest") return "api";
  return "database";
}

/** A tool's answer: rows as a table with the count and any cut in words, else the JSON. */
export function resultView(r) {
  if (r && Array.isArray(r.columns) && Array.isArray(r.rows)) {
    const cols = r.columns.map((col) => col?.name ?? col);
    const count = r.row_count ?? r.rows.length;
    return el("div", {},
      notice(r.truncated ? "warn" : "ok", `${count} row${count === 1 ? "" : "s"}${r.truncated ? ` — cut: ${r.note || "the row or byte cap was reached; there is more"}` : ""}`),
      r.hint ? notice("info", r.hint) : null,
      table(cols, r.rows.map((row) => row.map((v) => (v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : v)))));
  }
  return el("pre", {}, JSON.stringify(r, null, 2));
}

export async function renderDetail(name) {
  const body = el("div", { "aria-live": "polite" }, notice("info", "Loading…"));
  shell("#/connections", el("p", {}, el("a", { href: "#/connections" }, "← Connections")), el("h1", {}, name), body);
  let c, tools;
  try {
    [c, { tools }] = await Promise.all([client.connection(name), client.listTools()]);
  } catch (err) {
    if (err.status !== 401) body.replaceChildren(notice("error", err.status === 404 ? `There is no connection named ${name} in this workspace.` : err.message));
    return;
  }
  const mine = tools.filter((t) => t.connection === name);
  const status = el("div", { "aria-live": "polite" });
  const refresh = el("button", { type: "button", on: { click: async () => {
    refresh.disabled = true;
    status.replaceChildren(notice("info", "Rediscovering the schema…"));
    try { await client.refreshConnection(name); renderDetail(name); }
    catch (err) { if (err.status !== 401) status.replaceChildren(notice("error", err.message)); refresh.disabled = false; }
  } } }, "Refresh schema");
  /** @type {Partial<import("./api").Schema>} */
  const schema = c.schema || {};
  const where = c.mode === "agent" ? `agent ${c.agent} (${c.online ? "online" : "offline"})` : "direct";
  const parts = [
    el("p", {}, `${c.type}, ${where}${c.discovered_at ? `; schema discovered ${when(c.discovered_at)}` : "; no schema discovered yet"}`),
    el("div", { class: "actions" }, refresh,
      c.mode === "direct" ? el("a", { class: "button", href: `#/add?edit=${encodeURIComponent(name)}` }, "Edit credentials and settings") : null),
    status,
  ];
  if (c.mode === "agent") parts.push(el("p", { class: "help" }, "This connection is configured in its agent's agent.toml; change it there."));
  const redraw = () => renderDetail(name);
  if (schema.tables) parts.push(schemaBrowser(name, schema.tables, mine, redraw));
  if (schema.buckets?.length) parts.push(el("h2", {}, "Buckets"), table(["Bucket", "Scope", "Top-level prefixes"], schema.buckets.map((b) => [b.name, b.scope ?? "", (b.prefixes || []).join(", ")])));
  if (schema.topics?.length) parts.push(el("h2", {}, "Topics"), table(["Topic", "Partitions"], schema.topics.map((t) => [t.name, t.partitions])));
  if (schema.api) parts.push(el("h2", {}, `${schema.api.title} ${schema.api.version}`), table(["Operation", "Method", "Path", "Summary"], schema.api.operations.map((o) => [o.tool, o.method, o.path, o.summary ?? ""])));
  parts.push(toolsSection(c, mine, redraw));
  if (schema.tables) parts.push(queryTester(name));
  parts.push(toolTester(c, schema, mine));
  body.replaceChildren(...parts);
}

/** The tools this connection gives an AI: the shared ones and its own. */
function toolsSection(c, mine, redraw) {
  const shared = SHARED_TOOLS[family(c.type)];
  const own = table(["Tool", "Kind", "Parameters", "Source", "Updated", ""], mine.map((t) => [
    t.name, t.table ? `table ${t.table.schema ? `${t.table.schema}.` : ""}${t.table.name}` : "named query",
    t.params.map((p) => `${p.name}${p.required ? "" : "?"}: ${p.type}`).join(", "),
    t.source, when(t.updated_at),
    t.source === "file" ? "" : el("button", { class: "danger", on: { click: async () => {
      if (!confirm(`Remove the tool ${t.name}? AI clients see it disappear at once.`)) return;
      try { await client.removeTool(t.name); } catch (err) { if (err.status !== 401) alert(err.message); }
      redraw();
    } } }, "Remove"),
  ]));
  return el("section", { class: "card", id: "tools" },
    el("h2", {}, "Tools an AI gets"),
    el("p", {}, "Shared tools, which take this connection by name: ", el("code", {}, shared.join(", ")), "."),
    c.type === "rest" ? el("p", { class: "help" }, "While the workspace has 30 operations or fewer, each operation is also a tool of its own (the Operation column above).") : null,
    mine.length ? own : el("p", { class: "help" }, "No named or generated tools yet: switch on a table's tool in the schema above, or write a named query on the Named queries page."),
    el("p", {}, el("a", { href: `#/queries?connection=${encodeURIComponent(c.name)}` }, "Write a named query for this connection")));
}

/** The qualified name `tools/generate` takes: no schema where the source needs none. */
function qualified(t) {
  return !t.schema || t.schema === "main" || t.schema === "public" ? t.name : `${t.schema}.${t.name}`;
}

function schemaBrowser(connection, tables, mine, redraw) {
  const byTable = new Map(mine.filter((t) => t.table).map((t) => [`${t.table.schema || ""}.${t.table.name}`.toLowerCase(), t]));
  const toolOf = (t) => byTable.get(`${t.schema === "main" ? "" : t.schema}.${t.name}`.toLowerCase());
  const search = el("input", { id: "s-search", type: "search", placeholder: "table or column name" });
  const out = el("div");
  const status = el("div", { "aria-live": "polite" });
  const toggle = (t) => {
    const tool = toolOf(t);
    const id = `tool-${t.schema}-${t.name}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const box = el("input", { id, type: "checkbox", checked: Boolean(tool), on: { change: async () => {
      box.disabled = true;
      status.replaceChildren(notice("info", box.checked ? `Generating a tool for ${t.name}…` : `Removing the tool ${tool.name}…`));
      try {
        if (box.checked) {
          const r = await client.generateTools({ connection, tables: [qualified(t)] });
          status.replaceChildren(notice("ok", `Tool ${r.tools.join(", ")} added; AI clients are told.`));
        } else {
          await client.removeTool(tool.name);
          status.replaceChildren(notice("ok", `Tool ${tool.name} removed.`));
        }
        redraw();
      } catch (err) {
        box.checked = !box.checked; box.disabled = false;
        if (err.status !== 401) status.replaceChildren(notice("error", err.message));
      }
    } } });
    return el("span", { class: "toggle" }, box, el("label", { for: id }, tool ? `tool ${tool.name}` : "table tool"));
  };
  const draw = () => {
    const q = search.value.toLowerCase();
    const shown = tables.filter((t) => !q || t.name.toLowerCase().includes(q) || t.columns.some((col) => col.name.toLowerCase().includes(q))).slice(0, 200);
    if (!shown.length) { out.replaceChildren(notice("info", "No table or column matches.")); return; }
    out.replaceChildren(...shown.map((t) => el("details", { class: "card" },
      el("summary", {}, `${t.schema}.${t.name}`, el("span", { class: "help" }, ` ${t.kind}${t.row_estimate != null ? `, about ${t.row_estimate} rows` : ""}${t.comment ? ` — ${t.comment}` : ""}`), " ", toggle(t)),
      table(["Column", "Type", "Null", "Key", "Comment"], t.columns.map((col) => [
        col.name, col.type, col.nullable ? "yes" : "no",
        (t.primary_key || []).includes(col.name) ? "primary" : (t.foreign_keys || []).filter((fk) => fk.columns.includes(col.name)).map((fk) => `→ ${fk.references_table}`).join(", "),
        col.comment ?? "",
      ])))));
  };
  search.addEventListener("input", draw);
  draw();
  return el("section", {}, el("h2", {}, `Schema (${tables.length} tables and views)`),
    el("p", { class: "help" }, "A table's tool lets an AI read it with typed filters instead of writing SQL; switch it on beside the table's name."),
    field("Search", search), status, out);
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
      out.replaceChildren(resultView(await client.query({ connection, sql: sql.value, limit: Number(limit.value) || 100 })));
    } catch (err) {
      if (err.status !== 401) out.replaceChildren(notice("error", err.message));
    } finally { run.disabled = false; }
  } } }, el("h2", {}, "Try a query (as the AI's run_query)"), field("SQL", sql, "One SELECT; it runs through the same guard, caps and audit as an AI's call."), field("Row limit", limit), run, out);
}

/** Inputs for a named query's parameters, and the arguments they hold. */
export function paramInputs(params, prefix) {
  const inputs = params.map((p) => {
    const id = `${prefix}-${p.name}`;
    let input;
    if (p.type === "boolean") input = el("select", { id }, el("option", { value: "" }, "(not given)"), el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
    else input = el("input", { id, type: p.type === "integer" || p.type === "number" ? "number" : p.type === "date" ? "date" : "text", step: p.type === "number" ? "any" : undefined, placeholder: p.type === "datetime" ? "2026-12-01T00:00:00Z" : p.type });
    return { p, input, node: field(`${p.name}${p.required ? " (required)" : ""}`, input, p.type) };
  });
  const args = () => {
    const out = {};
    for (const { p, input } of inputs) {
      const v = input.value.trim();
      if (!v) {
        if (p.required) return [input, `${p.name} is required.`];
        continue;
      }
      if (p.type === "integer" || p.type === "number") {
        const n = Number(v);
        if (!Number.isFinite(n) || (p.type === "integer" && !Number.isInteger(n))) return [input, `${p.name} is ${p.type === "integer" ? "a whole number" : "a number"}.`];
        out[p.name] = n;
      } else if (p.type === "boolean") out[p.name] = v === "true";
      else out[p.name] = v;
    }
    return [null, out];
  };
  return { nodes: inputs.map((i) => i.node), args };
}

/** Calls one of this connection's tools as an AI would (`POST /tools/{name}/try`). */
/**
 * The arguments an AI would send a shared tool for this connection, filled
 * from what discovery found, as a starting point to edit.
 * @param {string} tool @param {string} connection @param {Partial<import("./api").Schema>} schema
 */
function sharedTemplate(tool, connection, schema) {
  const table = schema.tables?.[0];
  const bucket = schema.buckets?.[0]?.name ?? "bucket";
  const topic = schema.topics?.[0]?.name ?? "topic";
  const operation = schema.api?.operations?.[0]?.tool ?? "operation";
  return {
    list_connections: {},
    search_schema: { connection, pattern: "%" },
    describe_table: { connection, table: table ? `${table.schema}.${table.name}` : "table" },
    list_objects: { connection, bucket, limit: 20 },
    object_info: { connection, bucket, key: "path/to/object" },
    read_object: { connection, bucket, key: "path/to/object", length: 4096 },
    preview_object: { connection, bucket, key: "path/to/file.csv", rows: 10 },
    list_topics: { connection },
    peek_messages: { connection, topic, limit: 5 },
    search_operations: { connection, query: operation },
    describe_operation: { connection, operation },
    call_operation: { connection, operation, arguments: {} },
  }[tool] ?? { connection };
}

/** A JSON arguments box, and the object it holds. */
function jsonArgs(initial, help) {
  const json = el("textarea", { id: "t-args", rows: 4, spellcheck: "false" }, JSON.stringify(initial));
  return {
    nodes: [field("Arguments (JSON, as the AI sends them)", json, help)],
    args: () => {
      try { const v = JSON.parse(json.value || "{}"); return v && typeof v === "object" && !Array.isArray(v) ? [null, v] : [json, "The arguments are a JSON object."]; }
      catch (err) { return [json, `The arguments are not JSON: ${err.message}`]; }
    },
  };
}

/** Calls one of the connection's tools, or a shared one for it, as an AI would (`POST /tools/{name}/try`). */
function toolTester(c, schema, mine) {
  const shared = SHARED_TOOLS[family(c.type)].filter((n) => n !== "run_query");
  const pick = el("select", { id: "t-tool" },
    ...mine.map((t) => el("option", { value: t.name }, t.name)),
    ...shared.map((n) => el("option", { value: n }, `${n} (shared)`)));
  const argsBox = el("div");
  const out = el("div", { "aria-live": "polite" });
  const run = el("button", { type: "submit" }, "Call the tool");
  let current = null;
  const draw = () => {
    const tool = mine.find((t) => t.name === pick.value);
    if (!tool) {
      current = jsonArgs(sharedTemplate(pick.value, c.name, schema), "Filled from what discovery found; edit it as you like.");
      argsBox.replaceChildren(...current.nodes);
    } else if (tool.table) {
      current = jsonArgs({ limit: 10 }, 'columns: ["a","b"]; where: {"column": {"eq": value}} (also in, gt, gte, lt, lte, like); order_by: [{"column": "a", "desc": true}]; limit.');
      argsBox.replaceChildren(...current.nodes);
    } else {
      const p = paramInputs(tool.params, "t-arg");
      current = p;
      argsBox.replaceChildren(...(p.nodes.length ? p.nodes : [el("p", { class: "help" }, "This tool takes no parameters.")]));
    }
  };
  pick.addEventListener("change", draw);
  draw();
  return el("form", { class: "card", on: { submit: (e) => { e.preventDefault(); tryInto(out, run, pick.value, current.args); } } },
    el("h2", {}, "Call a tool (as the AI would)"), field("Tool", pick), argsBox, run, out);
}

/**
 * Calls tool `name` as the AI would with what `read` gives (or marks the
 * field it blames), and shows the answer, or the error in words, in `out`.
 * @param {HTMLElement} out @param {HTMLButtonElement} button @param {string} name @param {() => any[]} read
 */
export async function tryInto(out, button, name, read) {
  out.replaceChildren();
  const [bad, args] = read();
  if (bad) { bad.setAttribute("aria-invalid", "true"); bad.focus(); out.append(notice("error", args)); return; }
  button.disabled = true;
  try { out.replaceChildren(resultView(await client.tryTool(name, args))); }
  catch (err) { if (err.status !== 401) out.replaceChildren(notice("error", err.message)); }
  finally { button.disabled = false; }
}
