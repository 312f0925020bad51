//! SQL Server through the server, offline: no SQL Server can run on the
//! machines these tests run on, so what is tested here is what needs none —
//! the kind is accepted and sealed like every other, an unreachable or
//! forbidden destination is refused with its class and a fixed sentence
//! (never the host or the user), and the T-SQL guard answers through MCP's
//! REST twin before any source is reached. The guard corpus, the connection
//! string, the value mapping and the catalog queries have their own unit
//! tests (conexor-guard, conexor-connectors/src/sqlserver).

use conexor_tests::{TestServer, status_of};
use conexor_types::ConnectionKind;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_server_connection_is_refused_by_class_when_it_cannot_be_reached() {
    let server = TestServer::start().await;
    let admin = server.workspace("mssql").await;
    let closed = conexor_tests::free_port();
    let spec = json!({
        "host": "127.0.0.1",
        "port": closed,
        "database": "sales",
        "username": "conexor_secret_user",
        "password": "conexor-secret-password",
        "encrypt": "on",
    });
    let body = admin
        .sealed_connection(
            "erp",
            ConnectionKind::Sqlserver,
            &serde_json::to_vec(&spec).unwrap(),
            false,
        )
        .await
        .unwrap();
    let err = admin.post("connections", body).await.unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(status_of(&err), Some(502), "{text}");
    assert!(text.contains("the connection was refused"), "{text}");
    for secret in ["conexor_secret_user", "conexor-secret-password", "sales"] {
        assert!(!text.contains(secret), "the error names {secret}: {text}");
    }

    // Cloud metadata is refused before anything is dialled.
    let meta = json!({"host": "169.254.169.254", "username": "u", "password": "p"});
    let body = admin
        .sealed_connection(
            "meta",
            ConnectionKind::Sqlserver,
            &serde_json::to_vec(&meta).unwrap(),
            false,
        )
        .await
        .unwrap();
    let err = admin.post("connections", body).await.unwrap_err();
    assert_eq!(status_of(&err), Some(403), "{err:#}");

    // A PostgreSQL field on a SQL Server spec (and the reverse) is a clear error.
    let mixed = json!({"host": "h", "username": "u", "ssl_mode": "require"});
    let body = admin
        .sealed_connection(
            "mixed",
            ConnectionKind::Sqlserver,
            &serde_json::to_vec(&mixed).unwrap(),
            false,
        )
        .await
        .unwrap();
    let err = admin.post("connections", body).await.unwrap_err();
    assert!(format!("{err:#}").contains("encrypt"), "{err:#}");
    let listed = admin.get("connections").await.unwrap();
    assert_eq!(
        listed["connections"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}
