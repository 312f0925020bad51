// The REST API, one function per endpoint, typed with the declarations
// generated from the server's own types (api.d.ts, from crates/conexor-api):
// the type check (`tsc -p crates/conexor-server/dashboard`, run by the test
// command) fails wherever a page uses a shape the server no longer sends.

import { api } from "./ui.js";

/** @typedef {import("./api").JsonValue} JsonValue */

const seg = encodeURIComponent;

/** @returns {Promise<import("./api").KeySelf>} */
export const keySelf = () => api("GET", "keys/self");
/** @returns {Promise<import("./api").KeyList>} */
export const listKeys = () => api("GET", "keys");
/** @param {import("./api").NewKey} key @returns {Promise<import("./api").KeyCreated>} */
export const createKey = (key) => api("POST", "keys", key);
/** @param {string} keyId @returns {Promise<import("./api").KeyRevoked>} */
export const revokeKey = (keyId) => api("DELETE", `keys/${seg(keyId)}`);
/** @returns {Promise<import("./api").DekList>} */
export const listDeks = () => api("GET", "keys/deks");
/** @param {import("./api").RotateMaster} body @returns {Promise<import("./api").Rotated>} */
export const rotateMaster = (body) => api("POST", "keys/rotate-master", body);

/** @returns {Promise<import("./api").ConnectionList>} */
export const listConnections = () => api("GET", "connections");
/** @param {string} name @returns {Promise<import("./api").ConnectionDetail>} */
export const connection = (name) => api("GET", `connections/${seg(name)}`);
/** @param {string} name @returns {Promise<import("./api").SealedSpec>} */
export const sealedSpec = (name) => api("GET", `connections/${seg(name)}/sealed`);
/** @param {import("./api").SealedConnection} body @returns {Promise<import("./api").Tested>} */
export const testConnection = (body) => api("POST", "connections/test", body);
/** @param {import("./api").SealedConnection} body @returns {Promise<import("./api").Saved>} */
export const addConnection = (body) => api("POST", "connections", body);
/** @param {string} name @param {import("./api").SealedConnection} body @returns {Promise<import("./api").Saved>} */
export const editConnection = (name, body) => api("PUT", `connections/${seg(name)}`, body);
/** @param {string} name @returns {Promise<import("./api").Refreshed>} */
export const refreshConnection = (name) => api("POST", `connections/${seg(name)}/refresh`);
/** @param {string} name @returns {Promise<import("./api").Removed>} */
export const removeConnection = (name) => api("DELETE", `connections/${seg(name)}`);
/** @returns {Promise<import("./api").SecretList>} */
export const listSecrets = () => api("GET", "secrets");

/** A query as the AI's run_query. @param {{connection: string, sql: string, limit?: number}} body @returns {Promise<import("./api").QueryAnswer>} */
export const query = (body) => api("POST", "query", body);
/** @returns {Promise<import("./api").ToolList>} */
export const listTools = () => api("GET", "tools");
/** @param {string} name @returns {Promise<import("./api").ToolShown>} */
export const showTool = (name) => api("GET", `tools/${seg(name)}`);
/** @param {import("./api").ToolDef} def @returns {Promise<import("./api").ToolSaved>} */
export const saveTool = (def) => api("POST", "tools", def);
/** @param {string} name @returns {Promise<import("./api").Removed>} */
export const removeTool = (name) => api("DELETE", `tools/${seg(name)}`);
/** @param {import("./api").Generate} body @returns {Promise<import("./api").Generated>} */
export const generateTools = (body) => api("POST", "tools/generate", body);
/** A tool called as the AI would: the answer is the tool's own. @param {string} name @param {{[k: string]: JsonValue}} args @returns {Promise<any>} */
export const tryTool = (name, args) => api("POST", `tools/${seg(name)}/try`, args);

/** @returns {Promise<import("./api").AuditKey>} */
export const auditKey = () => api("GET", "audit/pubkey");
/** @param {URLSearchParams} q @returns {Promise<import("./api").RecordPage>} */
export const auditRecords = (q) => api("GET", `audit/records?${q}`);
/** @param {string} pinned @returns {Promise<import("./api").Verification>} */
export const verifyAudit = (pinned) => api("GET", `audit/verify${pinned ? `?pubkey=${seg(pinned)}` : ""}`);
/** The export as text (JSON Lines, CSV or OCSF). @param {string} format @returns {Promise<string>} */
export const exportAudit = async (format) => {
  const body = await api("GET", `audit/export?format=${seg(format)}`);
  return typeof body === "string" ? body : JSON.stringify(body);
};

/** @returns {Promise<import("./api").AgentList>} */
export const listAgents = () => api("GET", "agents");
/** @param {import("./api").NewAgent} body @returns {Promise<import("./api").AgentCreated>} */
export const createAgent = (body) => api("POST", "agents", body);
/** @param {string} agentId @returns {Promise<import("./api").AgentRevoked>} */
export const revokeAgent = (agentId) => api("DELETE", `agents/${seg(agentId)}`);
