//! `conexor tools …` (named-query tools) and `conexor export …` (client
//! set-up and tool definitions).

use crate::ClientArgs;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ToolsCmd {
    /// Add (or replace) the tools of a tools file ([[tools]] tables, TOML) through the API
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The tools file; `-` reads stdin
        #[arg(long, short)]
        file: PathBuf,
    },
    /// List the workspace's named tools
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one tool's definition
    Show {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
    /// Remove a tool added through the API
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
    },
    /// Generate read tools (typed filters, columns, order, limit) for chosen tables of a connection
    Generate {
        #[command(flatten)]
        client: ClientArgs,
        connection: String,
        /// Tables to generate tools for (comma-separated); required when the schema has more than 20
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
    /// Call a tool as an AI would: through the server, or locally on an inline --url
    Try {
        #[command(flatten)]
        client: ClientArgs,
        name: String,
        /// An argument, name=value (JSON values are parsed, anything else is a string); repeat
        #[arg(long = "arg", short = 'a')]
        args: Vec<String>,
        /// Run locally against this URL instead (needs --file); nothing is sent to the server
        #[arg(long, requires = "file")]
        url: Option<String>,
        /// The tools file holding NAME (with --url)
        #[arg(long, short)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Print a ready client config or a runnable snippet for this server
    Client {
        #[command(flatten)]
        client: ClientArgs,
        /// claude-desktop, cursor, vscode, python, typescript or curl
        #[arg(long = "for", value_parser = ["claude-desktop", "cursor", "vscode", "python", "typescript", "curl"])]
        target: String,
    },
    /// Write the workspace's named-query definitions as a tools file
    Tools {
        #[command(flatten)]
        client: ClientArgs,
        /// Output file (default: stdout)
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn read_file(path: &PathBuf) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn parse_args(args: &[String]) -> Result<Value> {
    let mut map = Map::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| anyhow!("--arg {a:?}: write name=value"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.to_owned(), value);
    }
    Ok(Value::Object(map))
}

pub async fn tools(cmd: ToolsCmd) -> Result<()> {
    match cmd {
        ToolsCmd::Add { client: args, file } => {
            let text = read_file(&file)?;
            let tools =
                conexor_tools::parse_file(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let client = args.client()?;
            for t in &tools {
                let body = serde_json::to_value(&t.def)?;
                client
                    .post_as::<conexor_api::ToolSaved>("tools", body)
                    .await
                    .with_context(|| format!("{} line {}", file.display(), t.line))?;
                if !args.json {
                    println!("Tool {} saved.", t.def.name);
                }
            }
            if args.json {
                println!(
                    "{}",
                    json!({"saved": tools.iter().map(|t| &t.def.name).collect::<Vec<_>>()})
                );
            }
        }
        ToolsCmd::List { client: args } => {
            let list: conexor_api::ToolList = args.client()?.get_as("tools").await?;
            if args.json {
                println!("{}", serde_json::to_string(&list)?);
                return Ok(());
            }
            if list.tools.is_empty() {
                println!(
                    "No named or generated tools yet: `conexor tools add FILE` or `conexor tools generate --connection NAME`."
                );
                return Ok(());
            }
            println!(
                "{:<32} {:<16} {:<6} PARAMETERS",
                "NAME", "CONNECTION", "SOURCE"
            );
            for t in &list.tools {
                let params: Vec<String> = t
                    .params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.kind))
                    .collect();
                println!(
                    "{:<32} {:<16} {:<6} {}",
                    t.name,
                    t.connection,
                    t.source,
                    params.join(", ")
                );
            }
        }
        ToolsCmd::Show { client: args, name } => {
            let v: conexor_api::ToolShown = args
                .client()?
                .get_as(&format!("tools/{}", crate::client_cmds::encode(&name)))
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                let def: conexor_tools::ToolDef = serde_json::from_value(v.definition)?;
                print!(
                    "{}",
                    conexor_tools::to_file(&[def]).map_err(|e| anyhow!("{e}"))?
                );
            }
        }
        ToolsCmd::Remove { client: args, name } => {
            args.client()?
                .delete_as::<conexor_api::Removed>(&format!(
                    "tools/{}",
                    crate::client_cmds::encode(&name)
                ))
                .await?;
            if !args.json {
                println!("Tool {name} removed.");
            }
        }
        ToolsCmd::Generate {
            client: args,
            connection,
            tables,
        } => {
            let v: conexor_api::Generated = args
                .client()?
                .post_as(
                    "tools/generate",
                    json!({"connection": connection, "tables": tables}),
                )
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                for t in &v.tools {
                    println!("Tool {t} generated.");
                }
            }
        }
        ToolsCmd::Try {
            client: args,
            name,
            args: kv,
            url,
            file,
        } => {
            let call_args = parse_args(&kv)?;
            let result = match (url, file) {
                (Some(url), Some(file)) => {
                    let text = read_file(&file)?;
                    let def = conexor_tools::parse_file(&text)
                        .map_err(|e| anyhow!("{}: {e}", file.display()))?
                        .into_iter()
                        .find(|t| t.def.name == name)
                        .ok_or_else(|| anyhow!("{} has no tool named {name:?}", file.display()))?
                        .def;
                    let (kind, _) = conexor_connectors::ConnectionSpec::from_url(&url)
                        .map_err(|e| anyhow!("{e}"))?;
                    let dialect = conexor_connectors::dialect_for(kind)
                        .ok_or_else(|| anyhow!("{kind} is not a database"))?;
                    def.check(dialect)
                        .map_err(|e| anyhow!("tool {name}: {e}"))?;
                    let params = def.bind(&call_args).map_err(|e| anyhow!("{e}"))?;
                    crate::client_cmds::local_query(&url, &def.sql, &params, def.max_rows).await?
                }
                (None, None) => {
                    args.client()?
                        .post(
                            &format!("tools/{}/try", crate::client_cmds::encode(&name)),
                            call_args,
                        )
                        .await?
                }
                _ => bail!("--url needs --file (the definition is read locally)"),
            };
            if args.json {
                println!("{result}");
            } else {
                crate::client_cmds::print_answer(&result)?;
            }
        }
    }
    Ok(())
}

pub async fn export(cmd: ExportCmd) -> Result<()> {
    match cmd {
        ExportCmd::Tools {
            client: args,
            output,
        } => {
            let text = args.client()?.get_text("tools/export").await?;
            match output {
                Some(p) => {
                    std::fs::write(&p, &text)
                        .with_context(|| format!("writing {}", p.display()))?;
                    eprintln!("Wrote {}.", p.display());
                }
                None => print!("{text}"),
            }
        }
        ExportCmd::Client {
            client: args,
            target,
        } => {
            let mcp = format!("{}/mcp", args.server.trim_end_matches('/'));
            let (how, config) = client_config(&target, &mcp);
            // The config alone on stdout (`> claude_desktop_config.json`
            // writes valid JSON); what to do with it on stderr.
            if !how.is_empty() {
                eprintln!("{how}");
            }
            print!("{config}");
        }
    }
    Ok(())
}

/// This binary by its absolute path: a desktop app that launches
/// `conexor mcp` has no shell PATH (and after `cargo run` there is no
/// `conexor` on it at all).
pub fn conexor_command() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "conexor".to_owned())
}

/// A ready config or snippet, and what to do with it. Never contains a
/// key: clients that expand environment variables read CONEXOR_API_KEY;
/// Claude Desktop gets a placeholder. The JSON configs are JSON alone (the
/// instructions are returned apart); snippets carry their comments.
pub fn client_config(target: &str, mcp: &str) -> (String, String) {
    let json_config = |how: &str, value: serde_json::Value| {
        (
            how.to_owned(),
            format!(
                "{}\n",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            ),
        )
    };
    let snippet = |text: String| (String::new(), text);
    match target {
        "claude-desktop" => json_config(
            "Claude Desktop: put this in claude_desktop_config.json and replace PASTE_AN_MCP_KEY with a key \
             from `conexor keys create --scope mcp` (Claude Desktop does not expand environment variables).",
            json!({"mcpServers": {"conexor": {
                "command": conexor_command(),
                "args": ["mcp", "--server", mcp.trim_end_matches("/mcp")],
                "env": {"CONEXOR_API_KEY": "PASTE_AN_MCP_KEY"}
            }}}),
        ),
        "cursor" => json_config(
            "Cursor: .cursor/mcp.json (the key comes from CONEXOR_API_KEY in Cursor's environment).",
            json!({"mcpServers": {"conexor": {
                "url": mcp,
                "headers": {"Authorization": "Bearer ${env:CONEXOR_API_KEY}"}
            }}}),
        ),
        "vscode" => json_config(
            "VS Code: .vscode/mcp.json (VS Code asks for the key once and keeps it in its secret storage).",
            json!({
                "inputs": [{"type": "promptString", "id": "conexor-key", "description": "Conexor MCP key (conexor keys create --scope mcp)", "password": true}],
                "servers": {"conexor": {
                    "type": "http",
                    "url": mcp,
                    "headers": {"Authorization": "Bearer ${input:conexor-key}"}
                }}
            }),
        ),
        "python" => snippet(format!(
            r#"# Python (pip install "mcp>=2.3,<3"); the key comes from CONEXOR_API_KEY.
import asyncio, json, os
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

URL = "{mcp}"

async def main():
    http = httpx2.AsyncClient(headers={{"Authorization": "Bearer " + os.environ["CONEXOR_API_KEY"]}})
    async with Client(streamable_http_client(URL, http_client=http)) as client:
        tools = await client.list_tools()
        print("tools:", ", ".join(t.name for t in tools.tools))
        result = await client.call_tool("list_connections", {{}})
        print(result.content[0].text)

asyncio.run(main())
"#
        )),
        "typescript" => snippet(format!(
            r#"// TypeScript (npm install @modelcontextprotocol/sdk); the key comes from CONEXOR_API_KEY.
import {{ Client }} from "@modelcontextprotocol/sdk/client/index.js";
import {{ StreamableHTTPClientTransport }} from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = new StreamableHTTPClientTransport(new URL("{mcp}"), {{
  requestInit: {{ headers: {{ Authorization: `Bearer ${{process.env.CONEXOR_API_KEY}}` }} }},
}});
const client = new Client({{ name: "conexor-snippet", version: "1.0.0" }});
await client.connect(transport);
const tools = await client.listTools();
console.log("tools:", tools.tools.map((t) => t.name).join(", "));
const result = await client.callTool({{ name: "list_connections", arguments: {{}} }});
console.log(result.content[0].text);
await client.close();
"#
        )),
        _ => snippet(format!(
            r#"# curl: initialize, then call a tool (the key comes from CONEXOR_API_KEY).
curl -si {mcp} -H "Authorization: Bearer $CONEXOR_API_KEY" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  -d '{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"curl","version":"1"}}}}}}'
# then, with the Mcp-Session-Id header it returned:
# curl -s {mcp} -H "Authorization: Bearer $CONEXOR_API_KEY" -H "Mcp-Session-Id: …" -H 'Content-Type: application/json' \
#   -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' \
#   -d '{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"list_connections","arguments":{{}}}}}}'
"#
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::client_config;

    #[test]
    fn exported_configs_parse_and_hold_no_key() {
        for target in [
            "claude-desktop",
            "cursor",
            "vscode",
            "python",
            "typescript",
            "curl",
        ] {
            let (how, text) = client_config(target, "https://cx.example.com/mcp");
            assert!(!text.contains("cxk_") && !how.contains("cxk_"), "{target}");
            assert!(text.contains("cx.example.com"), "{target}");
            if ["claude-desktop", "cursor", "vscode"].contains(&target) {
                // The whole of stdout is the config: valid JSON, no comments.
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{target}: {e}"));
                assert!(!how.is_empty(), "{target}");
            }
        }
        let (_, claude) = client_config("claude-desktop", "http://x/mcp");
        assert!(claude.contains("PASTE_AN_MCP_KEY"));
        // The binary by its absolute path, which a desktop app can launch.
        let config: serde_json::Value = serde_json::from_str(&claude).unwrap();
        let command = config["mcpServers"]["conexor"]["command"].as_str().unwrap();
        assert!(std::path::Path::new(command).is_absolute(), "{command}");
        assert!(
            client_config("cursor", "http://x/mcp")
                .1
                .contains("${env:CONEXOR_API_KEY}")
        );
    }
}
