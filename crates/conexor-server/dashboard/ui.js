// What every page of the dashboard shares: the signed-in state (in this
// module's memory only), elements built from text (never from HTML), the
// API call that signs out on a 401, and the page frame.

/**
 * @type {{
 *   key: string | null,
 *   self: import("./api").KeySelf | null,
 *   unlocked: { wmk: Uint8Array, workspaceId: string, keyId: string } | null,
 *   reason: string | null,
 *   onSignedOut: (() => void) | null,
 * }}
 */
export const state = { key: null, self: null, unlocked: null, reason: null, onSignedOut: null };
export const app = document.getElementById("app");

/** An element with text children only. */
export function el(tag, attrs = {}, ...children) {
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

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(method, path, body) {
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

export function signOut(reason) {
  if (state.unlocked) state.unlocked.wmk.fill(0);
  state.key = null; state.self = null; state.unlocked = null;
  // Said on the sign-in page the hash change brings up.
  state.reason = reason;
  if (location.hash) location.hash = "";
  else state.onSignedOut?.();
}

export function notice(kind, text) {
  return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export const PAGES = [
  ["#/connections", "Connections"],
  ["#/add", "Add connection"],
  ["#/queries", "Named queries"],
  ["#/audit", "Audit"],
  ["#/agents", "Agents"],
  ["#/keys", "API keys"],
  ["#/client", "Connect a client"],
];

export function shell(active, ...content) {
  const nav = el("nav", { "aria-label": "Main" },
    ...PAGES.map(([href, label]) => el("a", { href, "aria-current": href === active ? "page" : false }, label)),
    el("span", { class: "who" }, `${state.self.label || state.self.key_id} · ${state.self.workspace_id}`),
    el("button", { class: "link", on: { click: () => signOut("Signed out.") } }, "Sign out"),
  );
  app.replaceChildren(el("header", {}, el("strong", {}, "Conexor"), nav), el("main", {}, ...content));
}

export function table(headings, rows) {
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v)))))));
}

/** `2026-12-03T14:34:27.928Z` as `2026-12-03 14:34` (UTC). */
export function when(ts) {
  return ts ? `${String(ts).replace("T", " ").slice(0, 16)} UTC` : "";
}

export function field(label, input, help) {
  const id = input.id;
  return el("div", { class: "field" }, el("label", { for: id }, label), input, help ? el("p", { class: "help" }, help) : null);
}

