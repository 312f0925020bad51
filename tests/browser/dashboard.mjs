// The dashboard in real headless Chromium (Debian's, driven by playwright-core):
//
//   CX_URL=http://127.0.0.1:PORT CX_KEY=cxk_… CX_PG_URL=postgres://writer:pw@host:port/db \
//   CX_XSS_KEY=cxk_… CX_OTHER_KEY=cxk_… (another workspace's) CX_VECTORS=tests/data/format-v1-vectors.json \
//   CX_S3_ENDPOINT=http://… (moto, filled) CX_REST_BASE=http://…/bearer/api/v1 CX_REST_SPEC=openapi.json \
//   CX_REST_TOKEN=… CX_KAFKA_BOOTSTRAP=host:port (tansu, with fixtures) CX_ARTIFACTS=dir \
//   node tests/browser/dashboard.mjs
//
// Checks: the security headers; format v1 in the page against the vectors
// (an envelope sealed in Rust opens in the browser); sign in; a PostgreSQL
// connection added through the form, its test showing the privilege warning
// for a write-capable login, saved (so an envelope sealed in the browser
// opened in Rust), with the requests that left the page holding no password,
// user or host; the connection listed; its audit record; a CSV export; a key
// labelled with markup shown as text, its script never run; that key revoked
// and signed out on its next request; a table's generated tool switched on,
// called as the AI would and switched off; a named query whose server errors
// land beside their fields, saved and tried; a connection edited with only an
// envelope leaving the page and its password kept; the audit chain verified
// against the pinned key; the master key rotated in the page, with a
// reissued key that unlocks and secrets that still open; another
// workspace's key seeing nothing of this one; screenshots at laptop and
// narrow widths.
// Exits non-zero on the first failed check.

import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL_ = env("CX_URL");
const KEY = env("CX_KEY");
const XSS_KEY = env("CX_XSS_KEY");
const OTHER_KEY = env("CX_OTHER_KEY");
const S3_ENDPOINT = env("CX_S3_ENDPOINT");
const REST_BASE = env("CX_REST_BASE");
const REST_SPEC = env("CX_REST_SPEC");
const REST_TOKEN = env("CX_REST_TOKEN");
const KAFKA_BOOTSTRAP = env("CX_KAFKA_BOOTSTRAP");
const PG = new URL(env("CX_PG_URL"));
const VECTORS = JSON.parse(readFileSync(env("CX_VECTORS"), "utf8"));
const OUT = env("CX_ARTIFACTS");
mkdirSync(OUT, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

const browser = await chromium.launch({ executablePath: process.env.CX_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Headers.
  const response = await page.goto(`${URL_}/`);
  const headers = response.headers();
  const csp = headers["content-security-policy"] || "";
  check(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), `CSP forbids inline script and eval: ${csp}`);
  check(csp.includes("frame-ancestors 'none'") && csp.includes("connect-src 'self'"), "CSP: no framing, requests to this origin only");
  check(headers["referrer-policy"] === "no-referrer", "Referrer-Policy: no-referrer");
  check((await page.title()) === "Conexor", "the page has a title");
  const cors = await fetch(`${URL_}/api/v1/connections`, { method: "OPTIONS", headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "GET" } });
  check(!cors.headers.get("access-control-allow-origin"), "the API answers no cross-origin request permissively");

  // Format v1 vectors, in the page's own crypto module.
  const c = VECTORS.chain;
  const vector = await page.evaluate(async ({ c }) => {
    const cx = await import("/assets/crypto.js");
    const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    const bytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
    const self = { kdf_salt: cx.b64uEncode(bytes(c.inputs.kdf_salt_hex)), kdf_iterations: c.inputs.kdf_iterations, wrapped_wmk: c.expected.wrapped_wmk, wmk_check: c.expected.wmk_check, workspace_id: c.inputs.workspace_id };
    const unlocked = await cx.unlock(c.expected.api_key_text, self);
    const plain = await cx.openSecret(unlocked, c.inputs.secret_id, c.expected.sealed_secret);
    let moved = "opened";
    try { await cx.openSecret(unlocked, "sec_TestSecret000002", c.expected.sealed_secret); } catch (e) { moved = e.message; }
    const own = await cx.sealSecret(unlocked, c.inputs.secret_id, "browser sealed");
    const back = await cx.openSecret(unlocked, c.inputs.secret_id, own);
    let bad = "accepted";
    try { cx.parseApiKey(c.expected.api_key_text + "="); } catch (e) { bad = e.message; }
    return { wmk: hex(unlocked.wmk), plain, moved, back, bad };
  }, { c });
  check(vector.wmk === c.inputs.wmk_hex, "the vector's WMK unwraps in the browser");
  check(vector.plain === c.inputs.plaintext, "a secret sealed in Rust opens in the browser");
  check(vector.moved.startsWith("decryption failed"), "a secret moved to another id does not open");
  check(vector.back === "browser sealed", "a secret sealed in the browser opens in the browser");
  check(vector.bad !== "accepted", "a malformed key is refused");

  // Sign in.
  await page.fill("#api-key", "cxk_not-a-key");
  await page.click("button[type=submit]");
  check(await page.getByText("not a Conexor API key").isVisible(), "a malformed key gets a clear error");
  const started = Date.now();
  await page.fill("#api-key", KEY);
  await page.click("button[type=submit]");
  await page.waitForSelector("h1:text('Connections')", { timeout: 30000 });
  console.log(`     signed in (key derived) in ${Date.now() - started} ms`);
  check(!(await page.content()).includes(KEY), "the key is not in the page");

  // Add a PostgreSQL connection through the form; capture what leaves the page.
  const sent = [];
  page.on("request", (r) => { if (r.method() === "POST" || r.method() === "PUT") sent.push(r.postData() || ""); });
  await page.getByRole("link", { name: "Add connection" }).click();
  await page.fill("#f-name", "pgform");
  await page.selectOption("#f-type", "postgresql");
  await page.fill("#f-host", PG.hostname);
  await page.fill("#f-port", PG.port);
  await page.fill("#f-database", PG.pathname.slice(1));
  await page.fill("#f-user", decodeURIComponent(PG.username));
  await page.fill("#f-password", decodeURIComponent(PG.password));
  await page.selectOption("#f-ssl", "disable");
  await page.getByRole("button", { name: "Test", exact: true }).click();
  await page.waitForSelector(".notice.error, .notice.ok", { timeout: 30000 });
  const testText = await page.textContent("main");
  check(/more than read/.test(testText), "the test warns that this login can do more than read");
  check(/GRANT|grant/.test(testText), "and shows the read-only grants");
  await page.screenshot({ path: join(OUT, "add-connection.png"), fullPage: true });
  await page.check("#f-privileged");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector(".notice.ok", { timeout: 30000 });
  check(/Saved/.test(await page.textContent("main")), "the connection is saved (the browser's envelope opened in Rust)");
  const leaks = [decodeURIComponent(PG.password), decodeURIComponent(PG.username), PG.hostname + "\"", `"${PG.port}`];
  const bodies = sent.filter((b) => b.includes("pgform"));
  check(bodies.length >= 2, `the test and save requests were captured (${bodies.length})`);
  check(bodies.every((b) => leaks.every((l) => !b.includes(l))), "no request holds the password, user or host");
  check(bodies.every((b) => b.includes("\"sealed\"") && b.includes("A256GCM")), "the requests carry envelopes");

  // Listed, audited, exported.
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  await page.getByRole("link", { name: "pgform" }).waitFor({ timeout: 10000 });
  check(true, "the connection is listed");
  await page.screenshot({ path: join(OUT, "connections-laptop.png"), fullPage: true });
  // Every kind has its form, reached from its tab's empty state.
  for (const [tab, kind, fieldId] of [["kafka", "kafka", "#f-bootstrap_servers"], ["rest", "rest", "#f-openapi"], ["storage", "s3", "#f-secret_access_key"]]) {
    await page.goto(`${URL_}/#/connections?tab=${tab}`);
    await page.locator(`a[href="#/add?type=${kind}"]`).click();
    await page.waitForSelector(fieldId, { timeout: 5000 });
    check((await page.inputValue("#f-type")) === kind, `the ${kind} form has its own fields`);
  }
  await page.getByRole("button", { name: "Save", exact: true }).click();
  check(/The name is/.test(await page.textContent("main")), "a form says what is missing before sending (the name)");
  await page.fill("#f-name", "lake1");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  check(/Access key id is required/.test(await page.textContent("main")), "and then the next field");
  check((await page.getAttribute("#f-access_key_id", "aria-invalid")) === "true", "the field is marked");

  // Live S3 (moto) and REST (the connector's test API) through their forms,
  // with only envelopes leaving the page.
  const s3Secret = "browser-s3-secret-0123456789";
  await page.goto(`${URL_}/#/add?type=s3`);
  await page.waitForSelector("#f-secret_access_key", { timeout: 5000 });
  await page.fill("#f-name", "lakeform");
  await page.fill("#f-access_key_id", "AKIDBROWSERFORM");
  await page.fill("#f-secret_access_key", s3Secret);
  await page.fill("#f-endpoint", S3_ENDPOINT);
  await page.check("#f-allow_http");
  const beforeS3 = sent.length;
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("form .notice.ok, form .notice.error", { timeout: 60000 });
  check(/Saved\. \d+ buckets/.test(await page.textContent("form")), `an S3 connection is saved through its form: ${await page.textContent("form .notice")}`);
  check(sent.slice(beforeS3).every((b) => !b.includes(s3Secret) && !b.includes("AKIDBROWSERFORM") && !b.includes(new URL(S3_ENDPOINT).port)), "its request holds no key, secret or endpoint");
  await page.goto(`${URL_}/#/connection?name=lakeform`);
  await page.waitForSelector("h2:text('Buckets')", { timeout: 15000 });
  check((await page.textContent("main")).includes("cx-data"), "its buckets are shown");
  await page.goto(`${URL_}/#/add?type=rest`);
  await page.waitForSelector("#f-openapi", { timeout: 5000 });
  await page.fill("#f-name", "apiform");
  await page.fill("#f-base_url", REST_BASE);
  await page.setInputFiles("#f-openapi", REST_SPEC);
  await page.selectOption("#f-auth", "bearer");
  await page.fill("#f-token", REST_TOKEN);
  await page.check("#f-allow_http");
  const beforeRest = sent.length;
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("form .notice.ok, form .notice.error", { timeout: 60000 });
  check(/Saved\. \d+ operations \(\d+ tools/.test(await page.textContent("form")), `a REST API is saved from its description file: ${await page.textContent("form .notice")}`);
  check(sent.slice(beforeRest).every((b) => !b.includes(REST_TOKEN) && !b.includes(new URL(REST_BASE).port)), "its request holds no token or URL");
  await page.goto(`${URL_}/#/connection?name=apiform`);
  await page.waitForSelector("th:text('Operation')", { timeout: 15000 });
  check((await page.textContent("main")).includes("/items/{id}"), "its operations are shown");
  await page.goto(`${URL_}/#/add?type=kafka`);
  await page.waitForSelector("#f-bootstrap_servers", { timeout: 5000 });
  await page.fill("#f-name", "streamform");
  await page.fill("#f-bootstrap_servers", KAFKA_BOOTSTRAP);
  const beforeKafka = sent.length;
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("form .notice.ok, form .notice.error", { timeout: 60000 });
  check(/Saved\. [1-9]\d* topics/.test(await page.textContent("form")), `a Kafka cluster is saved through its form: ${await page.textContent("form .notice")}`);
  check(sent.slice(beforeKafka).every((b) => !b.includes(KAFKA_BOOTSTRAP.split(":")[1])), "its request holds no broker address");
  await page.goto(`${URL_}/#/connection?name=streamform`);
  await page.waitForSelector("h2:text('Topics')", { timeout: 15000 });
  check((await page.textContent("main")).includes("orders"), "its topics are shown");
  // A shared tool called as the AI would, its arguments filled from discovery.
  await page.selectOption("#t-tool", "peek_messages");
  check((await page.inputValue("#t-args")).includes('"connection":"streamform"'), "the shared tool's arguments start from what discovery found");
  await page.fill("#t-args", '{"connection": "streamform", "topic": "orders", "limit": 3}');
  await page.getByRole("button", { name: "Call the tool" }).click();
  await page.waitForSelector("form:has(#t-tool) pre, form:has(#t-tool) .notice.error", { timeout: 30000 });
  const peeked = await page.textContent("form:has(#t-tool)");
  check(/"offset"/.test(peeked) && !/notice error/.test(peeked), `peek_messages runs from the page: ${peeked.slice(0, 160)}`);

  // Agent mode: the block for agent.toml, every secret named by an environment variable.
  await page.goto(`${URL_}/#/add?type=postgresql`);
  await page.waitForSelector("#f-mode", { timeout: 5000 });
  await page.selectOption("#f-mode", "agent");
  check((await page.locator("#f-password").count()) === 0 && !(await page.isVisible("text=Save")), "agent mode asks for no password and sends nothing");
  await page.fill("#f-name", "dc_pg");
  await page.fill("#f-host", "db.internal");
  await page.fill("#f-database", "shop");
  await page.fill("#f-user", "reader");
  const beforeAgent = sent.length;
  // Enter in a field (which submits a form) makes the block too: never a save.
  await page.press("#f-user", "Enter");
  await page.waitForSelector("#agent-toml", { timeout: 10000 });
  check(sent.length === beforeAgent, "Enter in agent mode sends nothing");
  await page.getByRole("button", { name: "Make the agent.toml block" }).click();
  await page.waitForSelector("#agent-toml", { timeout: 10000 });
  const toml = await page.textContent("#agent-toml");
  check(toml.includes('name = "dc_pg"') && toml.includes('url_env = "DC_PG_URL"'), `the agent.toml block names its URL's variable: ${toml}`);
  check((await page.textContent("main")).includes("DC_PG_URL='postgresql://reader:<password>@db.internal:5432/shop'"), "and says what to set on the agent's machine");
  check(sent.length === beforeAgent, "nothing was sent to the server");
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  await page.getByRole("link", { name: "pgform" }).waitFor({ timeout: 10000 });
  // Its detail: the schema browser and a query as the AI's run_query.
  await page.getByRole("link", { name: "pgform" }).click();
  await page.waitForSelector("h2:has-text('Schema')", { timeout: 10000 });
  await page.fill("#s-search", "customers");
  check((await page.locator("details summary").allTextContents()).some((t) => t.includes("customers")), "the schema browser finds a table");
  await page.fill("#q-sql", "SELECT * FROM customers ORDER BY 1");
  await page.fill("#q-limit", "5");
  await page.getByRole("button", { name: "Run" }).click();
  await page.waitForSelector("form .notice", { timeout: 15000 });
  const ran = await page.textContent("form .notice");
  const shownRows = await page.locator("form table tbody tr").count();
  check(shownRows === 5 && /^5 rows/.test(ran) && /cut: result truncated at 5 rows/.test(ran), `the query tester shows 5 rows and says the cap cut them: ${ran} (${shownRows} rows)`);
  await page.fill("#q-sql", "DELETE FROM customers");
  await page.getByRole("button", { name: "Run" }).click();
  await page.waitForSelector("form .notice.error", { timeout: 15000 });
  check(/refused|SELECT|read/i.test(await page.textContent("form .notice.error")), "a write is refused in words");
  await page.screenshot({ path: join(OUT, "connection-detail.png"), fullPage: true });

  // A table's generated tool: switched on beside the table, called as the AI would, switched off.
  const customersToggle = () => page.locator("details").filter({ has: page.locator("summary", { hasText: /^public\.customers\s/ }) }).locator("summary input[type=checkbox]");
  await page.fill("#s-search", "customers");
  await customersToggle().check();
  await page.waitForSelector("#tools td:has-text('table public.customers')", { timeout: 15000 });
  check(true, "a table's tool is switched on and listed among the connection's tools");
  await page.selectOption("#t-tool", "pgform_customers");
  await page.fill("#t-args", '{"where": {"country": {"eq": "DE"}}, "order_by": [{"column": "id"}], "limit": 3}');
  await page.getByRole("button", { name: "Call the tool" }).click();
  await page.waitForSelector("form:has(#t-tool) .notice", { timeout: 15000 });
  const called = await page.textContent("form:has(#t-tool) .notice");
  const calledRows = await page.locator("form:has(#t-tool) table tbody tr").count();
  check(/^3 rows/.test(called) && /cut/.test(called) && calledRows === 3, `the tool tester shows the tool's rows with the cut visible: ${called} (${calledRows})`);
  await page.fill("#t-args", '{"where": {"nope": {"eq": 1}}}');
  await page.getByRole("button", { name: "Call the tool" }).click();
  await page.waitForSelector("form:has(#t-tool) .notice.error", { timeout: 15000 });
  check(/unknown column|nope/.test(await page.textContent("form:has(#t-tool) .notice.error")), "a bad argument is explained");
  await page.screenshot({ path: join(OUT, "connection-tools.png"), fullPage: true });
  await page.fill("#s-search", "customers");
  await customersToggle().uncheck();
  await page.waitForFunction(() => !document.querySelector("#tools")?.textContent.includes("table public.customers") && document.querySelector("#tools"), null, { timeout: 15000 });
  check(true, "and switched off");

  // Edit: the stored spec opens in the page; the password is kept without being shown or sent.
  await page.getByRole("link", { name: "Edit credentials and settings" }).click();
  await page.waitForSelector("#f-host", { timeout: 15000 });
  check((await page.inputValue("#f-host")) === PG.hostname && (await page.inputValue("#f-port")) === PG.port, "the edit form shows the stored settings");
  check((await page.inputValue("#f-password")) === "" && /unchanged/.test(await page.getAttribute("#f-password", "placeholder")), "but not the password");
  const beforeEdit = sent.length;
  await page.check("#f-privileged");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector(".notice.ok, .notice.error", { timeout: 30000 });
  check(/Updated/.test(await page.textContent("main")), `the connection is updated: ${await page.textContent("main .notice")}`);
  const edits = sent.slice(beforeEdit);
  check(edits.length === 1 && edits.every((b) => leaks.every((l) => !b.includes(l)) && b.includes("A256GCM")), "the edit request holds only the envelope");
  const afterEdit = await fetch(`${URL_}/api/v1/query`, { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" }, body: JSON.stringify({ connection: "pgform", sql: "SELECT count(*) AS n FROM customers" }) });
  check(afterEdit.ok, "the edited connection still logs in (the kept password)");

  // Named queries: errors beside their fields, then saved and tried.
  await page.getByRole("link", { name: "Named queries" }).click();
  await page.waitForSelector("#nq-name", { timeout: 10000 });
  await page.fill("#nq-name", "customers_after");
  await page.selectOption("#nq-connection", "pgform");
  await page.fill("#nq-description", "Customers whose id is above a number, oldest first.");
  await page.fill("#nq-sql", "SELECT id, email FROM customerz WHERE id > $1 ORDER BY id");
  await page.getByRole("button", { name: "Add a parameter" }).click();
  await page.fill("#nq-p0-name", "Min-Id");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  check(/a-z, 0-9/.test((await page.textContent("#nq-p0-name-error")) || ""), "a bad parameter name is marked in place before sending");
  await page.fill("#nq-p0-name", "min_id");
  await page.selectOption("#nq-p0-type", "integer");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("#nq-sql-error", { timeout: 10000 });
  const noTable = await page.textContent("#nq-sql-error");
  check(/no table "customerz"/.test(noTable) && /customers/.test(noTable) && (await page.getAttribute("#nq-sql", "aria-invalid")) === "true", `the server's error is placed beside the SQL: ${noTable}`);
  await page.fill("#nq-sql", "DELETE FROM customers WHERE id > $1");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("#nq-sql-error", { timeout: 10000 });
  check(/refused/.test(await page.textContent("#nq-sql-error")), "a write is refused beside the SQL");
  await page.fill("#nq-sql", "SELECT id, email\nFROM customers\nWHERE id > $1 ORDER BY id LIMIT 5 5");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("#nq-sql-error", { timeout: 10000 });
  const syntax = await page.textContent("#nq-sql-error");
  check(/line 3/.test(syntax), `a syntax error names its line: ${syntax}`);
  await page.fill("#nq-sql", "SELECT id, email FROM customers WHERE id > $1 ORDER BY id");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.waitForSelector("#nq-try", { timeout: 10000 });
  check(/Saved customers_after/.test(await page.textContent("main")), "the named query is saved");
  await page.fill("#nq-try-arg-min_id", "197");
  await page.click("#nq-try");
  await page.waitForSelector("section:has(#nq-try) table", { timeout: 15000 });
  const tried = await page.locator("section:has(#nq-try) table tbody tr td:first-child").allTextContents();
  check(tried.join(",") === "198,199,200", `"try it" runs it as the AI would: ${tried}`);
  await page.screenshot({ path: join(OUT, "named-queries.png"), fullPage: true });
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  await page.getByRole("link", { name: "pgform" }).waitFor({ timeout: 10000 });
  await page.setViewportSize({ width: 420, height: 860 });
  await page.screenshot({ path: join(OUT, "connections-narrow.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole("link", { name: "Audit" }).click();
  await page.waitForSelector("td:text('admin.connection_add')", { timeout: 10000 });
  check(true, "the connection's audit record is shown");
  await page.fill("#audit-tool", "admin.connection_add");
  await page.locator("#audit-tool").dispatchEvent("change");
  await page.waitForFunction(() => [...document.querySelectorAll("tbody tr td:nth-child(5)")].every((td) => td.textContent === "admin.connection_add"), null, { timeout: 10000 });
  check((await page.locator("tbody tr").count()) >= 1, "the listing filters by tool on the server");
  await page.fill("#audit-since", "2999-01-01T00:00");
  await page.locator("#audit-since").dispatchEvent("change");
  await page.waitForSelector("main .notice:text('No records match.')", { timeout: 10000 });
  check(true, "and by time");
  await page.fill("#audit-since", "");
  await page.locator("#audit-since").dispatchEvent("change");
  await page.waitForSelector("td:text('admin.connection_add')", { timeout: 10000 });
  await page.locator("tbody tr button.link").first().click();
  check((await page.textContent("main pre")).includes("\"prev_hash\""), "a record's detail shows the whole record");
  // The chain, verified against the pinned key (and said to prove little without one).
  await page.getByRole("button", { name: "Verify the chain" }).click();
  await page.waitForSelector("form:has(#audit-pinned) .notice.warn", { timeout: 30000 });
  check(/no key was pinned/.test(await page.textContent("form:has(#audit-pinned) .notice.warn")), "an unpinned check says what it does not prove");
  const pinnedKey = (await (await fetch(`${URL_}/api/v1/audit/pubkey`, { headers: { Authorization: `Bearer ${KEY}` } })).json()).pubkey;
  await page.fill("#audit-pinned", pinnedKey);
  await page.getByRole("button", { name: "Verify the chain" }).click();
  await page.waitForSelector("form:has(#audit-pinned) .notice.ok", { timeout: 30000 });
  check(/^Intact: \d+ records/.test(await page.textContent("form:has(#audit-pinned) .notice.ok")), "the chain verifies against the pinned key");
  await page.screenshot({ path: join(OUT, "audit.png"), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  const csv = readFileSync(await download.path(), "utf8");
  check(csv.startsWith("kind,seq,") && csv.includes("admin.connection_add"), "the CSV export downloads");
  // API keys: one made in the page works as a key; then it is revoked.
  await page.getByRole("link", { name: "API keys" }).click();
  await page.fill("#k-label", "browser-made");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.waitForSelector("pre.secret", { timeout: 30000 });
  const madeKey = (await page.textContent("pre.secret")).trim();
  const made = await fetch(`${URL_}/api/v1/keys/self`, { headers: { Authorization: `Bearer ${madeKey}` } });
  const madeSelf = await made.json();
  check(made.ok && madeSelf.label === "browser-made", "a key made in the browser signs in");
  const reopened = await page.evaluate(async ({ text, self }) => {
    const cx = await import("/assets/crypto.js");
    const u = await cx.unlock(text, self);
    return u.workspaceId;
  }, { text: madeKey, self: madeSelf });
  check(reopened === madeSelf.workspace_id, "and unwraps the workspace key");
  page.once("dialog", (d) => d.accept());
  await page.locator("tr", { hasText: "browser-made" }).getByRole("button", { name: "Revoke" }).click();
  await page.waitForSelector("tr:has-text('browser-made') td:nth-child(6):not(:empty)", { timeout: 10000 });
  const after = await fetch(`${URL_}/api/v1/keys/self`, { headers: { Authorization: `Bearer ${madeKey}` } });
  check(after.status === 401, "the revoked key is refused");
  // Agents: the one-time token and the agent.toml to paste.
  await page.getByRole("link", { name: "Agents" }).click();
  await page.fill("#a-name", `browser-agent-${Date.now() % 100000}`);
  await page.getByRole("button", { name: "Create agent" }).click();
  await page.waitForSelector("pre.secret", { timeout: 10000 });
  check((await page.textContent("pre.secret")).trim().startsWith("cxa_"), "an agent token is shown once");
  check((await page.textContent("main")).includes("token_env"), "with the agent.toml to paste");
  await page.screenshot({ path: join(OUT, "agents.png"), fullPage: true });
  await page.getByRole("link", { name: "Connect a client" }).click();
  await page.waitForSelector("h1:text('Connect a client')", { timeout: 10000 });
  const clientText = await page.textContent("main");
  check(clientText.includes(`${URL_}/mcp`) && !clientText.includes("cxk_"), `client configs name the server and hold no key: ${clientText.slice(0, 200)}`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForSelector("#api-key");
  check(true, "sign-out returns to the sign-in page");

  // A key labelled with markup: shown as text, its script never runs; then revoked.
  const xss = await context.newPage();
  xss.on("dialog", (d) => d.dismiss());
  await xss.goto(`${URL_}/`);
  await xss.fill("#api-key", XSS_KEY);
  await xss.click("button[type=submit]");
  await xss.waitForSelector("h1:text('Connections')", { timeout: 30000 });
  const who = await xss.textContent(".who");
  check(who.includes("<img src=x onerror="), "a label with markup is shown as text");
  check((await xss.evaluate(() => window.__xss)) === undefined, "its script did not run");
  check((await xss.locator("header img").count()) === 0, "no element was made from it");
  await xss.goto(`${URL_}/#/connections?tab=<img src=x onerror=window.__xss=2>`);
  check((await xss.evaluate(() => window.__xss)) === undefined, "markup in the URL does not run");
  const keyId = XSS_KEY.slice(4, 16);
  const revoked = await fetch(`${URL_}/api/v1/keys/${keyId}`, { method: "DELETE", headers: { Authorization: `Bearer ${KEY}` } });
  check(revoked.ok, "the labelled key is revoked");
  await xss.getByRole("link", { name: "Audit" }).click();
  await xss.waitForSelector("#api-key", { timeout: 10000 });
  check(/revoked|no longer valid/.test(await xss.textContent("main, #app")), "a revoked key is signed out on its next request");
  await page.screenshot({ path: join(OUT, "sign-in.png") });

  // The master key rotated in the page: a peer key reissued, secrets still open.
  await page.fill("#api-key", KEY);
  await page.click("button[type=submit]");
  await page.waitForSelector("h1:text('Connections')", { timeout: 30000 });
  await page.getByRole("link", { name: "API keys" }).click();
  await page.fill("#k-label", "rotation-peer");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.waitForSelector("pre.secret", { timeout: 30000 });
  const peerKey = (await page.textContent("pre.secret")).trim();
  await page.check("#r-reissue");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Rotate the master key" }).click();
  await page.waitForSelector("form:has(#r-reissue) .notice.ok, form:has(#r-reissue) .notice.error", { timeout: 60000 });
  check(/Master key rotated/.test(await page.textContent("form:has(#r-reissue)")), `the master key is rotated: ${await page.textContent("form:has(#r-reissue) .notice")}`);
  const reissued = (await page.locator("form:has(#r-reissue) pre.secret").allTextContents()).map((t) => t.trim());
  check(reissued.length === 1, `the peer key is reissued once (${reissued.length})`);
  const oldPeer = await fetch(`${URL_}/api/v1/keys/self`, { headers: { Authorization: `Bearer ${peerKey}` } });
  check(oldPeer.status === 401, "the peer's old key is revoked");
  const newPeer = await fetch(`${URL_}/api/v1/keys/self`, { headers: { Authorization: `Bearer ${reissued[0]}` } });
  const newPeerSelf = await newPeer.json();
  const newUnlock = await page.evaluate(async ({ text, self }) => (await (await import("/assets/crypto.js")).unlock(text, self)).workspaceId, { text: reissued[0], self: newPeerSelf });
  check(newPeer.ok && newUnlock === newPeerSelf.workspace_id, "its new key signs in and unwraps the new workspace key");
  const afterRotate = await fetch(`${URL_}/api/v1/query`, { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" }, body: JSON.stringify({ connection: "pgform", sql: "SELECT count(*) AS n FROM customers" }) });
  check(afterRotate.ok, "the re-wrapped connection secret still opens");
  await page.getByRole("link", { name: "Connections", exact: true }).click();
  await page.getByRole("link", { name: "pgform" }).waitFor({ timeout: 10000 });
  check(true, "the page keeps working with the new workspace key");

  // Another workspace's key sees nothing of this one.
  const other = await (await browser.newContext()).newPage();
  await other.goto(`${URL_}/`);
  await other.fill("#api-key", OTHER_KEY);
  await other.click("button[type=submit]");
  await other.waitForSelector("h1:text('Connections')", { timeout: 30000 });
  await other.waitForSelector("main .notice", { timeout: 10000 });
  check(!(await other.textContent("main")).includes("pgform"), "another workspace lists none of these connections");
  await other.goto(`${URL_}/#/connection?name=pgform`);
  await other.waitForSelector("main .notice.error", { timeout: 10000 });
  check(/no connection named pgform/.test(await other.textContent("main .notice.error")), "nor opens one by name");
  await other.goto(`${URL_}/#/queries`);
  await other.waitForSelector("#nq-name", { timeout: 10000 });
  check(!(await other.textContent("main")).includes("customers_after"), "nor sees its named queries");
  await other.goto(`${URL_}/#/audit`);
  await other.waitForSelector("main table, main .notice", { timeout: 10000 });
  await other.waitForTimeout(500);
  check(!(await other.textContent("main")).includes("pgform"), "nor its audit records");
  check(errors.length === 0, `no page errors ${errors.join("; ")}`);
} finally {
  await browser.close();
}
if (failures) {
  console.error(`${failures} browser check(s) failed`);
  process.exit(1);
}
console.log("dashboard: all browser checks passed");
