//! Named Secrets: sealed by the client, referenced by name from a
//! connection, rotated (the connection takes the new value from its next
//! call, on the real PostgreSQL), refused removal while in use, and invisible
//! to another workspace.

use conexor_client::Client;
use conexor_tests::{TestServer, env_url, status_of};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor};

fn unique() -> String {
    conexor_crypto::random_base62(10).to_lowercase()
}

async fn add_secret(client: &Client, name: &str, kind: &str, value: &str) -> anyhow::Result<Value> {
    let (secret_id, sealed) = client.sealed_secret_value(value).await?;
    client
        .post(
            "secrets",
            json!({"name": name, "kind": kind, "secret_id": secret_id, "sealed": sealed}),
        )
        .await
}

async fn rotate_secret(client: &Client, name: &str, value: &str) -> anyhow::Result<Value> {
    let (secret_id, sealed) = client.sealed_secret_value(value).await?;
    client
        .put(
            &format!("secrets/{name}"),
            json!({"secret_id": secret_id, "sealed": sealed}),
        )
        .await
}

/// Adds a connection to `url` (no password in it) whose password is the secret `secret`.
async fn add_with_secret(
    client: &Client,
    name: &str,
    url: &str,
    secret: &str,
) -> anyhow::Result<Value> {
    let (kind, mut spec) =
        conexor_connectors::ConnectionSpec::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    spec.password = None;
    spec.password_secret = Some(secret.to_owned());
    let plain = serde_json::to_vec(&spec)?;
    let body = client.sealed_connection(name, kind, &plain, false).await?;
    client.post("connections", body).await
}

/// A PostgreSQL login of its own that can read `customers`, with `password`.
async fn make_login(user: &str, password: &str) {
    let admin_url = env_url("CONEXOR_TEST_PG_ADMIN_URL");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let setup = format!(
        "CREATE ROLE {user} LOGIN PASSWORD '{password}';
         GRANT CONNECT ON DATABASE shop TO {user};
         GRANT USAGE ON SCHEMA public TO {user};
         GRANT SELECT ON customers TO {user};"
    );
    sqlx::raw_sql(AssertSqlSafe(setup))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
}

async fn set_password(user: &str, password: &str) {
    let mut admin = sqlx::PgConnection::connect(&env_url("CONEXOR_TEST_PG_ADMIN_URL"))
        .await
        .unwrap();
    admin
        .execute(AssertSqlSafe(format!(
            "ALTER ROLE {user} PASSWORD '{password}'"
        )))
        .await
        .unwrap();
    admin.close().await.ok();
}

fn login_url(user: &str) -> String {
    let reader = url::Url::parse(&env_url("CONEXOR_TEST_PG_READER_URL")).unwrap();
    format!(
        "postgres://{user}@{}:{}{}",
        reader.host_str().unwrap(),
        reader.port().unwrap(),
        reader.path()
    )
}

async fn count(client: &Client, connection: &str) -> anyhow::Result<Value> {
    client
        .query(
            connection,
            "SELECT COUNT(*) AS n FROM customers",
            vec![],
            None,
        )
        .await
}

#[tokio::test]
async fn a_secret_is_referenced_rotated_and_kept_while_in_use() {
    let server = TestServer::start().await;
    let admin = server.workspace("secrets").await;
    let user = format!("cx_sec_{}", unique());
    let first = format!("First-{}", unique());
    make_login(&user, &first).await;

    let added = add_secret(&admin, "pg_pw", "password", &first)
        .await
        .unwrap();
    assert_eq!(added["version"], 1, "{added}");
    // A name is taken once; the kind must be known; the value must open with this key.
    let again = add_secret(&admin, "pg_pw", "password", "x")
        .await
        .unwrap_err();
    assert_eq!(status_of(&again), Some(409), "{again:#}");
    let kind = add_secret(&admin, "odd", "banana", "x").await.unwrap_err();
    assert_eq!(status_of(&kind), Some(400), "{kind:#}");

    add_with_secret(&admin, "pgs", &login_url(&user), "pg_pw")
        .await
        .unwrap();
    assert_eq!(count(&admin, "pgs").await.unwrap()["rows"][0][0], 200);

    // Listed by name and metadata, with its user; never a value or an envelope.
    let listed = admin.get("secrets").await.unwrap();
    let text = listed.to_string();
    assert!(!text.contains(&first), "{text}");
    assert!(
        !text.contains("sealed") && !text.contains("nonce"),
        "{text}"
    );
    assert_eq!(listed["secrets"][0]["name"], "pg_pw", "{listed}");
    assert_eq!(listed["secrets"][0]["used_by"], json!(["pgs"]), "{listed}");
    assert_eq!(
        admin.get("secrets/pg_pw").await.unwrap()["kind"],
        "password"
    );

    // In use: removal refused, naming the connection.
    let refused = admin.delete("secrets/pg_pw").await.unwrap_err();
    assert_eq!(status_of(&refused), Some(409), "{refused:#}");
    assert!(refused.to_string().contains("pgs"), "{refused:#}");

    // The database's password changes; the secret rotates; the next call logs in with it.
    let second = format!("Second-{}", unique());
    set_password(&user, &second).await;
    let rotated = rotate_secret(&admin, "pg_pw", &second).await.unwrap();
    assert_eq!(rotated["version"], 2, "{rotated}");
    assert_eq!(rotated["connections"], json!(["pgs"]), "{rotated}");
    assert_eq!(count(&admin, "pgs").await.unwrap()["rows"][0][0], 200);

    // A wrong value is what the connection then uses: the login fails, by class.
    rotate_secret(&admin, "pg_pw", "not-the-password")
        .await
        .unwrap();
    let failed = count(&admin, "pgs").await.unwrap_err();
    assert_eq!(status_of(&failed), Some(502), "{failed:#}");
    assert!(
        failed.to_string().contains("refused the login"),
        "{failed:#}"
    );
    assert!(!failed.to_string().contains(&user), "{failed:#}");
    rotate_secret(&admin, "pg_pw", &second).await.unwrap();
    assert_eq!(count(&admin, "pgs").await.unwrap()["rows"][0][0], 200);

    // Re-wrapping the master key re-wraps the secret too.
    admin.rotate_master(false).await.unwrap();
    assert_eq!(count(&admin, "pgs").await.unwrap()["rows"][0][0], 200);

    // Once nothing uses it, it goes.
    admin.delete("connections/pgs").await.unwrap();
    admin.delete("secrets/pg_pw").await.unwrap();
    let gone = admin.get("secrets/pg_pw").await.unwrap_err();
    assert_eq!(status_of(&gone), Some(404), "{gone:#}");
    let rotate_gone = rotate_secret(&admin, "pg_pw", "x").await.unwrap_err();
    assert_eq!(status_of(&rotate_gone), Some(404), "{rotate_gone:#}");
}

#[tokio::test]
async fn a_secret_is_seen_only_by_its_own_workspace() {
    let server = TestServer::start().await;
    let a = server.workspace("owner").await;
    let b = server.workspace("other").await;
    let user = format!("cx_sec_{}", unique());
    let password = format!("Pw-{}", unique());
    make_login(&user, &password).await;
    add_secret(&a, "shared_name", "password", &password)
        .await
        .unwrap();
    // B names A's secret: no such secret in B.
    let err = add_with_secret(&b, "stolen", &login_url(&user), "shared_name")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(404), "{err:#}");
    assert!(err.to_string().contains("shared_name"), "{err:#}");
    assert!(
        b.get("secrets").await.unwrap()["secrets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A value sealed with B's key cannot be stored under A's workspace.
    let (secret_id, sealed) = b.sealed_secret_value("x").await.unwrap();
    let foreign = a
        .post(
            "secrets",
            json!({"name": "foreign", "secret_id": secret_id, "sealed": sealed}),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(&foreign), Some(400), "{foreign:#}");
    // An MCP-scope key cannot manage secrets.
    let mcp_key = a.create_key("ai", "mcp").await.unwrap();
    let mcp = Client::new(&server.url, Some(mcp_key), false).unwrap();
    let denied = mcp.get("secrets").await.unwrap_err();
    assert_eq!(status_of(&denied), Some(403), "{denied:#}");
}
