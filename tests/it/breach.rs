//! Zero-knowledge at rest, attacked: after adding connections, every byte of
//! the server's data directory and of every log line is searched for the
//! passwords, user names, hosts and URLs in every plausible encoding.

use base64::Engine;
use conexor_tests::{TestServer, add_connection, env_url, logs};

fn encodings(needle: &str) -> Vec<(String, Vec<u8>)> {
    let b = needle.as_bytes();
    let mut out = vec![("plain".to_string(), b.to_vec())];
    out.push(("hex".into(), hex_lower(b).into_bytes()));
    out.push(("HEX".into(), hex_lower(b).to_uppercase().into_bytes()));
    // Base64 of the needle at each of the three alignments, trimmed to the stable middle.
    for shift in 0..3 {
        let mut padded = vec![b'x'; shift];
        padded.extend_from_slice(b);
        for (name, engine) in [
            ("base64", &base64::engine::general_purpose::STANDARD),
            ("base64url", &base64::engine::general_purpose::URL_SAFE),
        ] {
            let enc = engine.encode(&padded);
            let start = (shift * 4).div_ceil(3) + 1;
            let end = enc.len().saturating_sub(4);
            if end > start + 4 {
                out.push((
                    format!("{name}+{shift}"),
                    enc.as_bytes()[start..end].to_vec(),
                ));
            }
        }
    }
    let utf16le: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let utf16be: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    out.push(("utf16le".into(), utf16le));
    out.push(("utf16be".into(), utf16be));
    out
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn all_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p.display().to_string(), bytes));
            }
        }
    }
    out
}

#[tokio::test]
async fn a_stolen_store_and_logs_hold_no_credential() {
    let pg = env_url("CONEXOR_TEST_PG_READER_URL");
    let my = env_url("CONEXOR_TEST_MYSQL_READER_URL");
    let lite_dir = tempfile::tempdir().unwrap();
    let lite = lite_dir.path().join("very_private_name.db");
    crate::sources::make_sqlite_shop(&lite).await;
    let allowed = lite_dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.sqlite_dirs.push(allowed)).await;
    let client2 = server.workspace("breach").await;
    let lite_url = format!("sqlite://{}", lite.display());
    for (name, url) in [("pg", &pg), ("my", &my), ("lite", &lite_url)] {
        add_connection(&client2, name, url, false).await.unwrap();
        client2
            .query(name, "SELECT COUNT(*) FROM customers", vec![], None)
            .await
            .unwrap();
    }
    // Named secrets: a token rotated once (both values are needles) and the
    // PostgreSQL password as a secret a connection references.
    let token_old = format!("Token-Old-{}", conexor_crypto::random_base62(12));
    let token_new = format!("Token-New-{}", conexor_crypto::random_base62(12));
    let (id, sealed) = client2.sealed_secret_value(&token_old).await.unwrap();
    client2
        .post(
            "secrets",
            serde_json::json!({"name": "api_token", "kind": "token", "secret_id": id, "sealed": sealed}),
        )
        .await
        .unwrap();
    let (id, sealed) = client2.sealed_secret_value(&token_new).await.unwrap();
    client2
        .put(
            "secrets/api_token",
            serde_json::json!({"secret_id": id, "sealed": sealed}),
        )
        .await
        .unwrap();
    let pg_password = url::Url::parse(&pg).unwrap().password().unwrap().to_owned();
    let (id, sealed) = client2.sealed_secret_value(&pg_password).await.unwrap();
    client2
        .post(
            "secrets",
            serde_json::json!({"name": "pg_pw", "kind": "password", "secret_id": id, "sealed": sealed}),
        )
        .await
        .unwrap();
    let (kind, mut spec) = conexor_connectors::ConnectionSpec::from_url(&pg).unwrap();
    spec.password = None;
    spec.password_secret = Some("pg_pw".into());
    let body = client2
        .sealed_connection("pg_named", kind, &serde_json::to_vec(&spec).unwrap(), false)
        .await
        .unwrap();
    client2.post("connections", body).await.unwrap();
    client2
        .query("pg_named", "SELECT COUNT(*) FROM customers", vec![], None)
        .await
        .unwrap();
    // Object storage: an S3 secret key inline, and one as a named secret a
    // connection references; both used for a read before the store is taken.
    let s3_inline = format!("S3-Inline-{}", conexor_crypto::random_base62(20));
    let s3_named = format!("S3-Named-{}", conexor_crypto::random_base62(20));
    let store = conexor_tests::s3::moto();
    let (id, sealed) = client2.sealed_secret_value(&s3_named).await.unwrap();
    client2
        .post(
            "secrets",
            serde_json::json!({"name": "s3_main", "kind": "secret_access_key", "secret_id": id, "sealed": sealed}),
        )
        .await
        .unwrap();
    for (name, secret) in [
        ("lake", serde_json::json!({"secret_access_key": s3_inline})),
        (
            "lake_named",
            serde_json::json!({"secret_access_key_secret": "s3_main"}),
        ),
    ] {
        let mut spec = serde_json::json!({
            "access_key_id": "AKIDBREACHTEST",
            "endpoint": store.endpoint,
            "allow_http": true,
        });
        spec.as_object_mut()
            .unwrap()
            .extend(secret.as_object().unwrap().clone());
        let body = client2
            .sealed_connection(
                name,
                conexor_types::ConnectionKind::S3,
                &serde_json::to_vec(&spec).unwrap(),
                false,
            )
            .await
            .unwrap();
        client2.post("connections", body).await.unwrap();
        let (service, _) = conexor_tests::mcp::mcp(&server, &client2).await;
        let (err, _, text) = conexor_tests::mcp::call(
            &service,
            "object_info",
            serde_json::json!({"connection": name, "bucket": "cx-data", "key": "sales.csv"}),
        )
        .await;
        assert!(!err, "{name}: {text}");
        let _ = service.cancel().await;
    }
    // A REST API: a bearer token inline, and one as a named secret; both
    // sent in a call before the store is taken.
    let api_inline = format!("Api-Inline-{}", conexor_crypto::random_base62(20));
    let api_named = format!("Api-Named-{}", conexor_crypto::random_base62(20));
    let api = conexor_tests::rest::rest_api();
    let (id, sealed) = client2.sealed_secret_value(&api_named).await.unwrap();
    client2
        .post(
            "secrets",
            serde_json::json!({"name": "rest_token", "kind": "token", "secret_id": id, "sealed": sealed}),
        )
        .await
        .unwrap();
    let base = api.base("open");
    let description = api.description(&base).await;
    for (name, token) in [
        ("shop", serde_json::json!({"token": api_inline})),
        (
            "shop_named",
            serde_json::json!({"token_secret": "rest_token"}),
        ),
    ] {
        let mut spec = serde_json::json!({
            "base_url": base,
            "openapi": description,
            "allow_http": true,
            "auth": "bearer",
            "enable": ["getItem", "listItems"],
        });
        spec.as_object_mut()
            .unwrap()
            .extend(token.as_object().unwrap().clone());
        let body = client2
            .sealed_connection(
                name,
                conexor_types::ConnectionKind::Rest,
                &serde_json::to_vec(&spec).unwrap(),
                false,
            )
            .await
            .unwrap();
        client2.post("connections", body).await.unwrap();
        let (service, _) = conexor_tests::mcp::mcp(&server, &client2).await;
        let (err, _, text) = conexor_tests::mcp::call(
            &service,
            &format!("{name}_getItem"),
            serde_json::json!({"id": "1"}),
        )
        .await;
        assert!(!err, "{name}: {text}");
        let _ = service.cancel().await;
    }
    let sent = api
        .requests()
        .iter()
        .filter(|r| {
            let auth = r["headers"]["authorization"].as_str().unwrap_or_default();
            auth.contains(&api_inline) || auth.contains(&api_named)
        })
        .count();
    assert!(sent >= 2, "the tokens were used");
    let key_text = client2.key().unwrap().to_text().to_string();
    // Make the store flush its WAL into the main file as well; both are searched anyway.
    server.state.store.close().await;

    let mut needles: Vec<String> = vec![
        pg.clone(),
        my.clone(),
        lite.display().to_string(),
        "very_private_name".into(),
    ];
    for url in [&pg, &my] {
        let parsed = url::Url::parse(url).unwrap();
        needles.push(parsed.password().unwrap().to_string());
        needles.push(format!(
            "{}:{}",
            parsed.host_str().unwrap(),
            parsed.port().unwrap()
        ));
    }
    needles.push("cx_reader".into());
    needles.push(token_old);
    needles.push(token_new);
    needles.push(s3_inline);
    needles.push(s3_named);
    needles.push(api_inline);
    needles.push(api_named);
    // By position: the secret itself may contain '_'.
    let secret_part = key_text["cxk_".len() + 12 + 1..].to_string();
    needles.push(secret_part);

    let mut haystacks = all_files(&server.data_dir);
    assert!(!haystacks.is_empty());
    haystacks.push(("logs".into(), logs().lock().unwrap().clone()));
    let mut found = Vec::new();
    for (file, bytes) in &haystacks {
        for needle in &needles {
            for (enc, pattern) in encodings(needle) {
                if find(bytes, &pattern) {
                    found.push(format!("{needle:?} as {enc} in {file}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets found:\n{}", found.join("\n"));
    let log_text = String::from_utf8_lossy(&logs().lock().unwrap()).to_lowercase();
    assert!(
        !log_text.contains("authorization"),
        "an Authorization header reached the logs"
    );
    assert!(
        !log_text.contains("bearer "),
        "a bearer token reached the logs"
    );
}
