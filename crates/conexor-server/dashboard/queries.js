// Named queries: tools written once by a person (a name, a description the
// AI chooses by, one SELECT and typed parameters) and called by an AI with
// arguments only. The server checks a definition before it stores it (the
// guard in the connection's dialect, the tables against the discovered
// schema); its errors name the field, and the page puts each beside that
// field, with the line and column for the SQL.

import * as client from "./client.js";
import { el, notice, shell, table, when, field } from "./ui.js";
import { paramInputs, tryInto } from "./detail.js";

const PARAM_TYPES = ["string", "integer", "number", "boolean", "date", "datetime", "enum"];
const NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Said once at the top of the page after a save. */
let flash = null;

export async function renderQueries() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const said = flash;
  flash = null;
  const list = el("div", {}, notice("info", "Loading…"));
  const editorBox = el("div");
  shell("#/queries", el("h1", {}, "Named queries"),
    el("p", { class: "help" }, "A named query is a tool: the AI sees its name, description and parameters, and sends only arguments. The SQL is checked by the same SELECT-only guard as every query."),
    said ? notice("ok", said) : null, list, editorBox);
  let tools = [], connections = [];
  try {
    [{ tools }, { connections }] = await Promise.all([client.listTools(), client.listConnections()]);
  } catch (err) {
    if (err.status !== 401) list.replaceChildren(notice("error", err.message));
    return;
  }
  const sqlConnections = connections.filter((c) => ["postgresql", "mysql", "sqlite", "sqlserver"].includes(c.type)).map((c) => c.name);
  const queries = tools.filter((t) => !t.table);
  const open = async (name) => {
    if (!name) { editorBox.replaceChildren(editor(null, sqlConnections, q.get("connection"), reload)); return; }
    try {
      const t = await client.showTool(name);
      editorBox.replaceChildren(editor(t, sqlConnections, null, reload));
    } catch (err) { if (err.status !== 401) editorBox.replaceChildren(notice("error", err.message)); }
  };
  const reload = (savedName) => {
    if (!savedName) { renderQueries(); return; }
    flash = `Saved ${savedName}. AI clients connected now are told that the tool list changed.`;
    const target = `#/queries?edit=${encodeURIComponent(savedName)}`;
    if (location.hash === target) renderQueries();
    else location.hash = target;
  };
  list.replaceChildren(
    queries.length
      ? table(["Name", "Connection", "Parameters", "Source", "Updated", ""], queries.map((t) => [
        el("button", { class: "link", on: { click: () => open(t.name) } }, t.name),
        t.connection, t.params.map((p) => `${p.name}${p.required ? "" : "?"}: ${p.type}`).join(", "), t.source, when(t.updated_at),
        t.source === "file" ? "" : el("button", { class: "danger", on: { click: async () => {
          if (!confirm(`Remove the named query ${t.name}? AI clients see it disappear at once.`)) return;
          try { await client.removeTool(t.name); } catch (err) { if (err.status !== 401) alert(err.message); }
          reload(null);
        } } }, "Remove"),
      ]))
      : notice("info", sqlConnections.length ? "No named queries yet. Write the first one below." : "Named queries run on a database connection; add one first (Add connection)."),
    el("button", { type: "button", on: { click: () => open(null) } }, "New named query"));
  open(q.get("edit") || null);
}

/** The editor for one definition (`t` from `GET /tools/{name}`, or null for a new one). */
function editor(t, connections, connection, saved) {
  const def = t?.definition ?? { name: "", description: "", connection: connection || connections[0] || "", sql: "", params: [] };
  const readOnly = t?.source === "file";
  const name = el("input", { id: "nq-name", value: def.name, placeholder: "orders_by_customer", readonly: Boolean(t) });
  const conn = el("select", { id: "nq-connection" }, ...connections.map((c) => el("option", { value: c }, c)));
  conn.value = def.connection;
  const description = el("textarea", { id: "nq-description", rows: 2 }, def.description);
  const sql = el("textarea", { id: "nq-sql", rows: 6, spellcheck: "false", placeholder: "SELECT … WHERE customer_id = $1" }, def.sql);
  const maxRows = el("input", { id: "nq-max-rows", type: "number", min: 1, value: def.max_rows ?? "" });
  const paramsBox = el("div");
  const out = el("div", { "aria-live": "polite" });
  const tryBox = el("div");
  let rows = [];
  const addParam = (p = { name: "", type: "string", required: true }) => {
    const i = rows.length;
    const r = {
      name: el("input", { id: `nq-p${i}-name`, value: p.name, placeholder: "customer_id", "aria-label": `Parameter ${i + 1} name` }),
      type: el("select", { id: `nq-p${i}-type`, "aria-label": `Parameter ${i + 1} type` }, ...PARAM_TYPES.map((k) => el("option", { value: k }, k))),
      required: el("input", { id: `nq-p${i}-required`, type: "checkbox", checked: Boolean(p.required), "aria-label": `Parameter ${i + 1} required` }),
      description: el("input", { id: `nq-p${i}-description`, value: p.description ?? "", placeholder: "what the AI should pass", "aria-label": `Parameter ${i + 1} description` }),
      values: el("input", { id: `nq-p${i}-values`, value: (p.values || []).join(", "), placeholder: "enum: a, b, c", "aria-label": `Parameter ${i + 1} enum values` }),
      removed: false,
    };
    r.type.value = p.type;
    r.row = el("tr", {}, ...["name", "type", "required", "description", "values"].map((k) => el("td", {}, r[k])),
      el("td", {}, el("button", { type: "button", class: "danger", on: { click: () => { r.removed = true; r.row.remove(); } } }, "Remove")));
    r.extra = { default: p.default, min: p.min, max: p.max, max_length: p.max_length };
    rows.push(r);
    paramsBody.append(r.row);
  };
  const paramsBody = el("tbody");
  paramsBox.replaceChildren(el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...["Name", "Type", "Required", "Description", "Enum values", ""].map((h) => el("th", { scope: "col" }, h)))), paramsBody)),
  el("button", { type: "button", on: { click: () => addParam() } }, "Add a parameter"));
  for (const p of def.params || []) addParam(p);

  const clearErrors = () => {
    for (const n of document.querySelectorAll(".field-error")) n.remove();
    for (const n of document.querySelectorAll('[aria-invalid="true"]')) n.removeAttribute("aria-invalid");
  };
  /** Puts `text` beside `input` and moves there. */
  const mark = (input, text) => {
    input.setAttribute("aria-invalid", "true");
    const id = `${input.id}-error`;
    input.setAttribute("aria-describedby", id);
    (input.closest("td") || input.closest(".field") || input.parentNode).append(el("p", { class: "field-error", id, role: "alert" }, text));
    input.focus();
  };
  const live = () => rows.filter((r) => !r.removed);
  const definition = () => {
    if (!NAME.test(name.value)) return [name, "1-64 characters of a-z, 0-9 and _, starting with a letter."];
    if (!conn.value) return [conn, "Choose the database connection it reads."];
    if (!description.value.trim()) return [description, "Say what the tool returns: the AI chooses tools by it."];
    if (!sql.value.trim()) return [sql, "Write one SELECT; $1, $2… (or ?) stand for the parameters in order."];
    const params = [];
    const seen = new Set();
    for (const r of live()) {
      if (!NAME.test(r.name.value)) return [r.name, "a-z, 0-9 and _, starting with a letter."];
      if (seen.has(r.name.value)) return [r.name, "This name is used twice."];
      seen.add(r.name.value);
      const p = { name: r.name.value, type: r.type.value, required: r.required.checked };
      if (r.description.value.trim()) p.description = r.description.value.trim();
      const values = r.values.value.split(",").map((v) => v.trim()).filter(Boolean);
      if (p.type === "enum") { if (!values.length) return [r.values, "An enum needs its values, comma-separated."]; p.values = values; }
      else if (values.length) return [r.values, "Values are for enums only."];
      for (const [k, v] of Object.entries(r.extra)) if (v !== undefined && v !== null) p[k] = v;
      params.push(p);
    }
    const d = { name: name.value, description: description.value.trim(), connection: conn.value, sql: sql.value, params };
    if (maxRows.value) {
      const n = Number(maxRows.value);
      if (!Number.isInteger(n) || n < 1) return [maxRows, "A whole number, at least 1."];
      d.max_rows = n;
    }
    return [null, d];
  };
  /** The server's `tool "x": field: why` (or `params[i] ("p"): …`) beside its field. */
  const placeServerError = (message) => {
    const m = /^tool "[^"]*": (.*)$/s.exec(message);
    const rest = m ? m[1] : message;
    // `params[i] ("p"): name: …`, `…: default is …`, `…: an enum needs values`.
    const p = /^params\[(\d+)\] \("[^"]*"\): (?:(name|type): )?(.*)$/s.exec(rest);
    if (p) {
      const r = live()[Number(p[1])];
      const about = p[2] || (/\bvalues\b|enum/.test(p[3]) ? "values" : "name");
      if (r) { mark(about === "values" ? r.values : r[about], p[2] ? `${p[2]}: ${p[3]}` : p[3]); return; }
    }
    const f = /^(name|connection|description|max_rows|sql): (.*)$/s.exec(rest);
    if (!f) { out.replaceChildren(notice("error", message)); return; }
    const input = { name, connection: conn, description, max_rows: maxRows, sql }[f[1]];
    let text = f[2];
    const at = /Line: (\d+), Column: (\d+)/.exec(text);
    if (at && input === sql) {
      const [line, col] = [Number(at[1]), Number(at[2])];
      text = `line ${line}, column ${col}: ${text}`;
      const offset = sql.value.split("\n").slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(col - 1, 0);
      mark(input, text);
      sql.setSelectionRange(offset, Math.min(offset + 1, sql.value.length));
      return;
    }
    mark(input, text);
  };
  const save = el("button", { type: "submit", disabled: readOnly }, "Save");
  const form = el("form", { class: "card", novalidate: true, on: { submit: async (e) => {
    e.preventDefault();
    clearErrors();
    out.replaceChildren();
    const [bad, d] = definition();
    if (bad) { mark(bad, d); return; }
    save.disabled = true;
    try {
      await client.saveTool(d);
      saved(d.name);
    } catch (err) {
      if (err.status !== 401) placeServerError(err.message);
    } finally { save.disabled = readOnly; }
  } } },
  el("h2", {}, t ? `Edit ${def.name}` : "New named query"),
  readOnly ? notice("info", "This tool comes from the tools file on the server; change it there. You can still try it.") : null,
  field("Name", name, "The tool's name as the AI sees it: a-z, 0-9 and _."),
  field("Connection", conn),
  field("Description", description, "What it returns and when to use it."),
  field("SQL", sql, "One SELECT in the connection's dialect; $1, $2… (PostgreSQL) or ? (others) in the order of the parameters."),
  el("h3", {}, "Parameters"), paramsBox,
  field("Most rows per call", maxRows, "Empty: the server's cap. The server's cap still applies."),
  save, out, tryBox);
  const drawTry = (d) => {
    const p = paramInputs(d.params, "nq-try-arg");
    const result = el("div", { "aria-live": "polite" });
    const run = el("button", { type: "button", id: "nq-try", on: { click: () => tryInto(result, run, d.name, p.args) } }, "Try it");
    tryBox.replaceChildren(el("section", { class: "card" }, el("h3", {}, `Try ${d.name} (as the AI would)`), ...p.nodes, run, result));
  };
  if (t) drawTry(def);
  return form;
}
