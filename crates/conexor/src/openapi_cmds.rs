//! `conexor openapi inspect FILE`: what a REST API's OpenAPI description
//! would give an AI, read here before anything is saved — the read
//! operations (GET and HEAD only), the write operations that can never be
//! called, the ones skipped and why, and the tools and tools/list bytes it
//! would add.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use conexor_connectors::rest::{ToolMode, openapi, tool_plan};
use std::io::Read;

#[derive(Subcommand, Debug)]
pub enum OpenapiCmd {
    /// Read an OpenAPI 3.0/3.1 description (JSON or YAML) and show what it would add
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The description, a JSON or YAML file (`-` for stdin)
    pub file: std::path::PathBuf,
    /// The connection name its tools would carry
    #[arg(long, default_value = "api")]
    pub name: String,
    /// List every read operation
    #[arg(long)]
    pub operations: bool,
    /// Print JSON (counts, tool mode, bytes, operations)
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: OpenapiCmd) -> Result<()> {
    match cmd {
        OpenapiCmd::Inspect(args) => inspect(args),
    }
}

/// Reads a description from a file (`-`: stdin), at most one byte over
/// the limit (the parser then says it is too large).
pub(crate) fn read_description(file: &std::path::Path) -> Result<Vec<u8>> {
    let limit = openapi::MAX_SPEC_BYTES as u64 + 1;
    let mut text = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut text)
            .context("reading the description from stdin")?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("opening {}", file.display()))?
            .take(limit)
            .read_to_end(&mut text)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(text)
}

/// Fetches a description from `url`, here on the client (the server never
/// fetches one): at most one byte over the limit, within 60 seconds.
pub(crate) async fn fetch_description(url: &str) -> Result<Vec<u8>> {
    let parsed = url::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("--openapi-url must be an http(s) URL");
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let mut response = client
        .get(parsed)
        .header("accept", "application/json")
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if !response.status().is_success() {
        anyhow::bail!("fetching {url}: the server answered {}", response.status());
    }
    let mut text = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading {url}"))?
    {
        text.extend_from_slice(&chunk);
        if text.len() > openapi::MAX_SPEC_BYTES {
            break;
        }
    }
    Ok(text)
}

fn inspect(args: InspectArgs) -> Result<()> {
    let text = read_description(&args.file)?;
    let api = openapi::parse(&text).map_err(|e| match e {
        conexor_connectors::Error::Spec(message) => anyhow::anyhow!(message),
        other => anyhow::anyhow!("{other}"),
    })?;
    let ops: Vec<&openapi::Operation> = api.operations.iter().collect();
    let plan = tool_plan(&args.name, &ops);
    if args.json {
        let out = serde_json::json!({
            "title": api.title,
            "version": api.version,
            "server": api.server,
            "read_operations": api.operations.len(),
            "write_operations": api.write_operations,
            "skipped": api.skipped,
            "tool_mode": match plan.mode { ToolMode::Named => "named", ToolMode::Generic => "generic" },
            "tools": plan.tools.len(),
            "tools_list_bytes": plan.bytes,
            "operations": if args.operations { serde_json::to_value(&api.operations)? } else { serde_json::Value::Null },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{} {}", api.title, api.version);
    if let Some(server) = &api.server {
        println!("server: {server}");
    }
    println!(
        "{} read operations (GET/HEAD); {} write operations that can never be called",
        api.operations.len(),
        api.write_operations
    );
    for skipped in &api.skipped {
        println!("skipped: {skipped}");
    }
    match plan.mode {
        ToolMode::Named => println!(
            "tools: {} (one per operation), {} bytes of tools/list",
            plan.tools.len(),
            plan.bytes
        ),
        ToolMode::Generic => println!(
            "tools: search_operations, describe_operation, call_operation (more than {} operations), {} bytes of tools/list",
            conexor_connectors::rest::NAMED_TOOLS_UP_TO,
            plan.bytes
        ),
    }
    if args.operations {
        for op in &api.operations {
            println!("  {:<40} {:<4} {}", op.tool, op.method.as_str(), op.path);
        }
    }
    Ok(())
}
