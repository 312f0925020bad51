// Format v1 (docs/format-v1.md) in the browser, with WebCrypto: the API key
// parsed by position, the KEK derived with PBKDF2-SHA-256, the workspace
// master key unwrapped and checked, and connection specs sealed here, so
// that the request that leaves the page carries only envelopes.

const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
export const MIN_ITERATIONS = 600000;
const MAX_ITERATIONS = 10000000;
const enc = new TextEncoder();

export function b64uEncode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = [18, 12, 6, 0].map((s) => B64U[(n >> s) & 63]);
    out += chars.slice(0, Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6))).join("");
  }
  return out;
}

/** Strict: the alphabet only, no padding, and the canonical spelling. */
export function b64uDecode(text) {
  if (typeof text !== "string" || text.length % 4 === 1) throw new Error("malformed base64url");
  const bits = [];
  for (const c of text) {
    const v = B64U.indexOf(c);
    if (v < 0) throw new Error("malformed base64url");
    bits.push(v);
  }
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let acc = 0, n = 0, j = 0;
  for (const v of bits) {
    acc = (acc << 6) | v; n += 6;
    if (n >= 8) { n -= 8; out[j++] = (acc >> n) & 255; }
  }
  if (b64uEncode(out) !== text) throw new Error("malformed base64url");
  return out;
}

/** `cxk_` + 12 base62 + `_` + 43 b64u (32 bytes), read by position. */
export function parseApiKey(text) {
  if (typeof text !== "string" || text.length !== 60 || !text.startsWith("cxk_") || text[16] !== "_") {
    throw new Error("this is not a Conexor API key (cxk_ followed by 56 characters)");
  }
  const keyId = text.slice(4, 16);
  if (![...keyId].every((c) => B62.includes(c))) throw new Error("the key's id is not base62");
  let secret;
  try { secret = b64uDecode(text.slice(17)); } catch { throw new Error("the key's secret is malformed"); }
  if (secret.length !== 32) throw new Error("the key's secret is malformed");
  return { keyId, secret };
}

export async function deriveKek(secret, salt, iterations) {
  if (!(iterations >= MIN_ITERATIONS && iterations <= MAX_ITERATIONS)) {
    throw new Error(`the server offers a key derivation of ${iterations} iterations; refusing`);
  }
  const base = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256);
  return new Uint8Array(bits);
}

async function aes(key) {
  return crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function openEnvelope(key, envelope, aad) {
  const names = Object.keys(envelope ?? {}).sort().join(",");
  if (names !== "alg,ct,nonce,v" || envelope.v !== 1 || envelope.alg !== "A256GCM") throw new Error("malformed envelope");
  const nonce = b64uDecode(envelope.nonce);
  const ct = b64uDecode(envelope.ct);
  if (nonce.length !== 12 || ct.length < 16) throw new Error("malformed envelope");
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: enc.encode(aad) }, await aes(key), ct);
    return new Uint8Array(plain);
  } catch {
    throw new Error("decryption failed: wrong key, wrong record or damaged data");
  }
}

export async function sealEnvelope(key, plain, aad) {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: enc.encode(aad) }, await aes(key), plain);
  return { v: 1, alg: "A256GCM", nonce: b64uEncode(nonce), ct: b64uEncode(new Uint8Array(ct)) };
}

/** The workspace master key, unwrapped with the KEK and checked. */
export async function unlock(apiKey, self) {
  const { keyId, secret } = parseApiKey(apiKey);
  const salt = b64uDecode(self.kdf_salt);
  if (salt.length !== 16) throw new Error("the server sent a malformed salt");
  const kek = await deriveKek(secret, salt, self.kdf_iterations);
  const wmk = await openEnvelope(kek, self.wrapped_wmk, `conexor/wrap/v1/${keyId}`);
  if (wmk.length !== 32) throw new Error("malformed envelope");
  const check = await openEnvelope(wmk, self.wmk_check, "");
  if (new TextDecoder().decode(check) !== "conexor/check/v1") throw new Error("the workspace key failed its check value");
  return { wmk, workspaceId: self.workspace_id, keyId };
}

export function randomBase62(n) {
  let out = "";
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < 248 && out.length < n) out += B62[b % 62];
    }
  }
  return out;
}

/** A connection spec (an object) sealed as format v1 §9: `{value, dek}`. */
export async function sealSecret(unlocked, secretId, plainJson) {
  const dek = crypto.getRandomValues(new Uint8Array(32));
  const value = await sealEnvelope(dek, enc.encode(plainJson), `conexor/secret/v1/${unlocked.workspaceId}/${secretId}`);
  const wrapped = await sealEnvelope(unlocked.wmk, dek, `conexor/dek/v1/${unlocked.workspaceId}/${secretId}`);
  dek.fill(0);
  return { value, dek: wrapped };
}

export function newSecretId() {
  return `sec_${randomBase62(16)}`;
}

/** Opens a sealed secret `{value, dek}` (format v1 §9): the spec's JSON text. */
export async function openSecret(unlocked, secretId, sealed) {
  const dek = await openEnvelope(unlocked.wmk, sealed.dek, `conexor/dek/v1/${unlocked.workspaceId}/${secretId}`);
  if (dek.length !== 32) throw new Error("malformed envelope");
  const plain = await openEnvelope(dek, sealed.value, `conexor/secret/v1/${unlocked.workspaceId}/${secretId}`);
  dek.fill(0);
  return new TextDecoder().decode(plain);
}

/**
 * A new API key for this workspace, made here as the CLI makes one
 * (format v1 §2–§8): the key's text (shown once) and the record the server
 * stores, which holds only its hash and the workspace key wrapped for it.
 */
export async function newKeyRecord(unlocked, label, scope) {
  const keyId = randomBase62(12);
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const text = `cxk_${keyId}_${b64uEncode(secret)}`;
  const authSalt = crypto.getRandomValues(new Uint8Array(16));
  const kdfSalt = crypto.getRandomValues(new Uint8Array(16));
  const authInput = new Uint8Array([...enc.encode("conexor/auth/v1"), ...authSalt, ...secret]);
  const authHash = new Uint8Array(await crypto.subtle.digest("SHA-256", authInput));
  const kek = await deriveKek(secret, kdfSalt, MIN_ITERATIONS);
  const record = {
    key_id: keyId,
    label,
    scope,
    auth_salt: b64uEncode(authSalt),
    auth_hash: b64uEncode(authHash),
    kdf_salt: b64uEncode(kdfSalt),
    kdf_iterations: MIN_ITERATIONS,
    wrapped_wmk: await sealEnvelope(kek, unlocked.wmk, `conexor/wrap/v1/${keyId}`),
    wmk_check: await sealEnvelope(unlocked.wmk, enc.encode("conexor/check/v1"), ""),
  };
  secret.fill(0); kek.fill(0); authInput.fill(0);
  return { text, record };
}

/**
 * A new workspace master key, and everything `POST /keys/rotate-master`
 * needs, made here as the CLI makes it: each secret's DEK unwrapped with the
 * old key and wrapped with the new one, the new key wrapped for the signed-in
 * API key (its KEK derived again), and optionally fresh keys for the others.
 */
export async function rotateMaster(unlocked, apiKey, self, deks, reissue) {
  const fresh = { wmk: crypto.getRandomValues(new Uint8Array(32)), workspaceId: unlocked.workspaceId, keyId: unlocked.keyId };
  const rewrapped = [];
  for (const d of deks) {
    const aad = `conexor/dek/v1/${unlocked.workspaceId}/${d.secret_id}`;
    const dek = await openEnvelope(unlocked.wmk, d.dek, aad);
    rewrapped.push({ secret_id: d.secret_id, dek: await sealEnvelope(fresh.wmk, dek, aad) });
    dek.fill(0);
  }
  const { secret } = parseApiKey(apiKey);
  const kek = await deriveKek(secret, b64uDecode(self.kdf_salt), self.kdf_iterations);
  const issued = [];
  for (const k of reissue) issued.push({ label: k.label, scope: k.scope, ...(await newKeyRecord(fresh, k.label, k.scope)) });
  const body = {
    wrapped_wmk: await sealEnvelope(kek, fresh.wmk, `conexor/wrap/v1/${unlocked.keyId}`),
    wmk_check: await sealEnvelope(fresh.wmk, enc.encode("conexor/check/v1"), ""),
    deks: rewrapped,
    new_keys: issued.map((k) => k.record),
  };
  kek.fill(0); secret.fill(0);
  return { fresh, body, issued: issued.map(({ label, scope, text }) => ({ label, scope, text })) };
}
