//! Serves Conexor with the MCP conformance suite's fixtures
//! (`conexor_tests::conformance`) on a free loopback port, for
//! `scripts/conformance.sh`. Prints one line, `<url>/mcp <api key>`, once it
//! answers; stops on SIGTERM or Ctrl-C, removing its temporary store.

use conexor_tests::TestServer;
use std::io::Write;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = TestServer::start_with_fixtures().await;
    let client = server.workspace("conformance").await;
    let key = client.key()?.to_text().to_string();
    println!("{}/mcp {key}", server.url);
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop(server);
    Ok(())
}
