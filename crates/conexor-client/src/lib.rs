//! Client-side code shared by the CLI and `conexor demo`: it generates keys,
//! salts and the workspace master key, derives KEKs, seals connection specs,
//! and talks to the server's REST API. Only public or wrapped values leave
//! this crate; the server never receives a secret it could open.
//!
//! Plain `http://` to a host that is not loopback is refused unless the
//! caller explicitly allows it: an API key must not cross a network in clear.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use conexor_crypto::{ApiKey, Envelope, SealedSecret, Wmk};
use conexor_types::{ConnectionKind, KeyId, WorkspaceId};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Percent-encodes a path segment or a query value: everything but the
/// unreserved characters of RFC 3986 (letters, digits, `-_.~`).
pub fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Reads a successful answer as `T`; a shape this client does not know
/// (another version of the server, most likely) is said in words.
pub fn answer_as<T: DeserializeOwned>(method: &str, path: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).with_context(|| {
        format!(
            "the server's answer to {method} /api/v1/{path} is not what this conexor expects (is the server another version?)"
        )
    })
}

/// A server and, usually, the API key to present to it.
pub struct Client {
    base: url::Url,
    http: reqwest::Client,
    key: Option<ApiKey>,
}

/// The workspace master key, unwrapped locally, with what it belongs to.
pub struct Unlocked {
    pub wmk: Wmk,
    pub workspace_id: WorkspaceId,
    pub key_id: KeyId,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks that a server URL may carry an API key.
pub fn check_url(url: &url::Url, insecure: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback || insecure {
                Ok(())
            } else {
                bail!(
                    "refusing plain http:// to a non-loopback host (the API key would cross the network in clear); use https:// or pass --insecure"
                )
            }
        }
        other => bail!("unsupported URL scheme {other:?}: use https:// (or http:// on loopback)"),
    }
}

/// Builds the public record of a new key: salts, auth hash, KDF parameters
/// and the WMK wrapped for it. Costs one PBKDF2 derivation.
pub fn new_key_record(wmk: &Wmk, label: &str, scope: &str) -> Result<(ApiKey, Value)> {
    let key = ApiKey::generate();
    let auth_salt = conexor_crypto::random_salt();
    let kdf_salt = conexor_crypto::random_salt();
    let iterations = conexor_crypto::MIN_KDF_ITERATIONS;
    let kek = conexor_crypto::derive_kek(key.secret(), &kdf_salt, iterations)?;
    let body = json!({
        "key_id": key.key_id(),
        "label": label,
        "scope": scope,
        "auth_salt": b64(&auth_salt),
        "auth_hash": b64(&conexor_crypto::auth_hash(&auth_salt, key.secret())),
        "kdf_salt": b64(&kdf_salt),
        "kdf_iterations": iterations,
        "wrapped_wmk": conexor_crypto::wrap_wmk(&kek, wmk, key.key_id()),
        "wmk_check": conexor_crypto::wmk_check(wmk),
    });
    Ok((key, body))
}

impl Client {
    pub fn new(url: &str, key: Option<ApiKey>, insecure: bool) -> Result<Client> {
        Self::with_ca(url, key, insecure, None)
    }

    /// Like [`Client::new`], also trusting the CA certificate(s) in `ca_pem`
    /// (a server with a private certificate).
    pub fn with_ca(
        url: &str,
        key: Option<ApiKey>,
        insecure: bool,
        ca_pem: Option<&[u8]>,
    ) -> Result<Client> {
        let mut base =
            url::Url::parse(url).with_context(|| format!("invalid server URL {url:?}"))?;
        check_url(&base, insecure)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120));
        if let Some(pem) = ca_pem {
            for cert in
                reqwest::Certificate::from_pem_bundle(pem).context("reading the CA certificate")?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().context("building the HTTP client")?;
        Ok(Client { base, http, key })
    }

    pub fn key(&self) -> Result<&ApiKey> {
        self.key
            .as_ref()
            .ok_or_else(|| anyhow!("an API key is required: pass --api-key or set CONEXOR_API_KEY"))
    }

    /// The MCP endpoint of this server.
    pub fn mcp_url(&self) -> String {
        self.base
            .join("mcp")
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    fn endpoint(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(&format!("api/v1/{path}"))
            .context("building the request URL")
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut request = self.http.request(method, self.endpoint(path)?);
        let owned: Zeroizing<String>;
        let token = match token {
            Some(t) => Some(t),
            None => match &self.key {
                Some(k) => {
                    owned = k.to_text();
                    Some(owned.as_str())
                }
                None => None,
            },
        };
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("could not reach the server at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(value)
        } else {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            Err(ServerError {
                status: status.as_u16(),
                message,
            }
            .into())
        }
    }

    /// A GET whose answer is text (exports), streamed into memory.
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let mut response = self.get_stream(path).await?;
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.context("reading the answer")? {
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).context("the answer is not UTF-8")
    }

    /// A GET whose answer the caller reads chunk by chunk (large exports).
    pub async fn get_stream(&self, path: &str) -> Result<reqwest::Response> {
        let key = self.key()?.to_text();
        let response = self
            .http
            .get(self.endpoint(path)?)
            .bearer_auth(key.as_str())
            .timeout(std::time::Duration::from_secs(24 * 3600))
            .send()
            .await
            .with_context(|| format!("could not reach the server at {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        Err(ServerError {
            status: status.as_u16(),
            message,
        }
        .into())
    }

    /// A GET whose answer is read as the API's type for it (`conexor-api`).
    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        answer_as("GET", path, self.get(path).await?)
    }
    /// A POST whose answer is read as the API's type for it.
    pub async fn post_as<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T> {
        answer_as("POST", path, self.post(path, body).await?)
    }
    /// A PUT whose answer is read as the API's type for it.
    pub async fn put_as<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T> {
        answer_as("PUT", path, self.put(path, body).await?)
    }
    /// A DELETE whose answer is read as the API's type for it.
    pub async fn delete_as<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        answer_as("DELETE", path, self.delete(path).await?)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::GET, path, None, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send(reqwest::Method::POST, path, None, Some(body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.send(reqwest::Method::PUT, path, None, Some(body))
            .await
    }
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    /// Creates a workspace and its first (admin) key. The WMK and key are made here.
    pub async fn create_workspace(
        &self,
        admin_token: &str,
        name: &str,
        label: &str,
    ) -> Result<(WorkspaceId, ApiKey)> {
        let workspace_id = conexor_crypto::new_workspace_id();
        let wmk = Wmk::generate();
        let (key, key_body) = new_key_record(&wmk, label, "admin")?;
        let body = json!({"workspace_id": workspace_id, "name": name, "key": key_body});
        self.send(
            reqwest::Method::POST,
            "workspaces",
            Some(admin_token),
            Some(body),
        )
        .await?;
        Ok((workspace_id, key))
    }

    /// Unwraps the workspace master key locally with this client's key.
    pub async fn unlock(&self) -> Result<Unlocked> {
        let key = self.key()?;
        let me = self.get("keys/self").await?;
        let iterations = me["kdf_iterations"]
            .as_u64()
            .ok_or_else(|| anyhow!("server sent no kdf_iterations"))?;
        let iterations = u32::try_from(iterations).context("kdf_iterations out of range")?;
        if iterations < conexor_crypto::MIN_KDF_ITERATIONS {
            bail!("the server offers a weak key derivation ({iterations} iterations); refusing");
        }
        let salt = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(me["kdf_salt"].as_str().unwrap_or_default())
            .context("server sent a malformed kdf_salt")?;
        let salt: [u8; 16] = salt
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("server sent a kdf_salt of the wrong length"))?;
        let wrapped: Envelope = serde_json::from_value(me["wrapped_wmk"].clone())
            .context("server sent a malformed wrapped key")?;
        let check: Envelope = serde_json::from_value(me["wmk_check"].clone())
            .context("server sent a malformed check value")?;
        let workspace_id: WorkspaceId = serde_json::from_value(me["workspace_id"].clone())
            .context("server sent a malformed workspace id")?;
        let kek = conexor_crypto::derive_kek(key.secret(), &salt, iterations)?;
        let wmk = conexor_crypto::unwrap_wmk(&kek, &wrapped, key.key_id())
            .context("this key does not open the workspace key (was the master key rotated?)")?;
        if !conexor_crypto::verify_wmk_check(&wmk, &check) {
            bail!("the workspace key failed its check value; refusing to use it");
        }
        Ok(Unlocked {
            wmk,
            workspace_id,
            key_id: key.key_id().clone(),
        })
    }

    pub async fn create_key(&self, label: &str, scope: &str) -> Result<ApiKey> {
        let unlocked = self.unlock().await?;
        let (key, body) = new_key_record(&unlocked.wmk, label, scope)?;
        self.post("keys", body).await?;
        Ok(key)
    }

    /// Rotates the workspace master key: a new WMK, every DEK re-wrapped, the
    /// caller's key re-wrapped, every other key revoked; with `reissue`, a
    /// replacement key per revoked key (same label and scope) is returned.
    pub async fn rotate_master(
        &self,
        reissue: bool,
    ) -> Result<(Value, Vec<(String, String, ApiKey)>)> {
        let key = self.key()?;
        let old = self.unlock().await?;
        let me = self.get("keys/self").await?;
        let deks = self.get("keys/deks").await?;
        let keys = self.get("keys").await?;
        let new = Wmk::generate();
        let mut rewrapped = Vec::new();
        for d in deks["deks"].as_array().cloned().unwrap_or_default() {
            let secret_id: conexor_types::SecretId =
                serde_json::from_value(d["secret_id"].clone())?;
            let dek: Envelope = serde_json::from_value(d["dek"].clone())?;
            let fresh =
                conexor_crypto::rewrap_dek(&old.wmk, &new, &old.workspace_id, &secret_id, &dek)?;
            rewrapped.push(json!({"secret_id": secret_id, "dek": fresh}));
        }
        let salt = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(me["kdf_salt"].as_str().unwrap_or_default())?;
        let salt: [u8; 16] = salt
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("malformed kdf_salt"))?;
        let iterations = u32::try_from(me["kdf_iterations"].as_u64().unwrap_or(0))?;
        let kek = conexor_crypto::derive_kek(key.secret(), &salt, iterations)?;
        let mut new_keys = Vec::new();
        let mut issued = Vec::new();
        if reissue {
            for k in keys["keys"].as_array().cloned().unwrap_or_default() {
                if k["revoked_at"].is_null() && k["current"] != Value::Bool(true) {
                    let label = k["label"].as_str().unwrap_or("reissued").to_owned();
                    let scope = k["scope"].as_str().unwrap_or("mcp").to_owned();
                    let (fresh, body) = new_key_record(&new, &label, &scope)?;
                    new_keys.push(body);
                    issued.push((label, scope, fresh));
                }
            }
        }
        let body = json!({
            "wrapped_wmk": conexor_crypto::wrap_wmk(&kek, &new, key.key_id()),
            "wmk_check": conexor_crypto::wmk_check(&new),
            "deks": rewrapped,
            "new_keys": new_keys,
        });
        let result = self.post("keys/rotate-master", body).await?;
        Ok((result, issued))
    }

    /// A named Secret's value sealed here (format v1, plaintext
    /// `{"value": …}`) under a fresh id: `(secret_id, sealed)` for
    /// `POST /secrets` or `PUT /secrets/{name}`.
    pub async fn sealed_secret_value(&self, value: &str) -> Result<(String, SealedSecret)> {
        let unlocked = self.unlock().await?;
        let secret_id = conexor_crypto::new_secret_id();
        let plaintext = zeroize::Zeroizing::new(serde_json::to_vec(&json!({ "value": value }))?);
        let sealed = conexor_crypto::seal_secret(
            &unlocked.wmk,
            &unlocked.workspace_id,
            &secret_id,
            &plaintext,
        )?;
        Ok((secret_id.as_str().to_owned(), sealed))
    }

    /// The request body for a connection: name and type in clear, the spec sealed.
    pub async fn sealed_connection(
        &self,
        name: &str,
        kind: ConnectionKind,
        spec_json: &[u8],
        allow_privileged: bool,
    ) -> Result<Value> {
        let unlocked = self.unlock().await?;
        let secret_id = conexor_crypto::new_secret_id();
        let sealed: SealedSecret = conexor_crypto::seal_secret(
            &unlocked.wmk,
            &unlocked.workspace_id,
            &secret_id,
            spec_json,
        )?;
        Ok(json!({
            "name": name, "type": kind.as_str(), "secret_id": secret_id, "sealed": sealed,
            "allow_privileged": allow_privileged,
        }))
    }

    pub async fn query(
        &self,
        connection: &str,
        sql: &str,
        params: Vec<Value>,
        limit: Option<u64>,
    ) -> Result<Value> {
        let mut body = json!({"connection": connection, "sql": sql, "params": params});
        if let Some(l) = limit {
            body["limit"] = json!(l);
        }
        self.post("query", body).await
    }
}

/// An error answer from the server.
#[derive(Debug, thiserror::Error)]
#[error("{message} (HTTP {status})")]
pub struct ServerError {
    pub status: u16,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_cross_a_network_in_clear() {
        let ok = [
            "https://conexor.example.com",
            "http://127.0.0.1:7400",
            "http://localhost:7400",
            "http://[::1]:7400",
        ];
        for url in ok {
            assert!(Client::new(url, None, false).is_ok(), "{url}");
        }
        for url in [
            "http://conexor.example.com",
            "http://10.0.0.5:7400",
            "ftp://x",
        ] {
            assert!(Client::new(url, None, false).is_err(), "{url}");
        }
        assert!(Client::new("http://10.0.0.5:7400", None, true).is_ok());
    }
}
