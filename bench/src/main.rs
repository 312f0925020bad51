//! `conexor-bench`: what a read costs through Conexor, next to the same read
//! straight from sqlx and through a peer MCP server (DBHub), against one
//! PostgreSQL. `bench/run.sh` starts the database and DBHub, runs this, and
//! writes `bench/RESULTS.md`; this binary prints the Markdown sections on
//! stdout (progress on stderr).
//!
//! Measured, per scenario and concurrency: successful requests per second
//! in a fixed window after a warm-up, latency percentiles (p50/p95/p99 by
//! nearest rank over every sample, no histogram), mean answer size, errors;
//! for the large-result scenarios, resident memory of the serving process.
//!
//! Not measured: session or pool set-up, TLS (everything is plain HTTP on
//! loopback), a remote network, open-loop arrival rates (see `measure`), and
//! isolation: the clients, the in-process Conexor server, PostgreSQL and
//! DBHub share the same cores, so the numbers compare paths on one machine
//! rather than predict a deployment.
//!
//! Scenarios are a list ([`scenarios`]); each names its target, its
//! workload and, for Conexor, the server options it needs (one in-process
//! server is started per distinct [`conexor::ServerOptions`]). An "audit on
//! vs off" comparison is two entries differing only in `audit`.

mod conexor;
mod measure;
mod procfs;
mod targets;

use anyhow::{Context, Result};
use clap::Parser;
use conexor::ServerOptions;
use measure::{Stats, Window};
use procfs::Process;
use std::fmt::Write as _;
use std::time::Duration;
use targets::{Endpoints, Target, Worker, Workload};

#[derive(Parser, Debug)]
#[command(about = "Throughput and latency of Conexor next to sqlx and DBHub (see bench/run.sh)")]
struct Args {
    /// PostgreSQL URL of a read-only login on the shop fixture.
    #[arg(long, env = "CONEXOR_TEST_PG_READER_URL", hide_env_values = true)]
    pg_url: String,
    /// Measured seconds per scenario and concurrency.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before each measured window (samples discarded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrency levels (workers, each with its own session or client).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    concurrency: Vec<usize>,
    /// Run only these scenarios (ids; repeatable). Default: all.
    #[arg(long = "scenario")]
    only: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// DBHub's MCP endpoint (e.g. http://127.0.0.1:PORT/mcp).
    #[arg(long)]
    dbhub_url: Option<String>,
    /// DBHub's process id, for its memory and CPU readings.
    #[arg(long)]
    dbhub_pid: Option<u32>,
    /// The PostgreSQL postmaster's process id, for its (and its backends') CPU time.
    #[arg(long)]
    pg_pid: Option<u32>,
    /// Why DBHub is not running (written into the results instead).
    #[arg(long)]
    dbhub_unavailable: Option<String>,
    /// The audit chain in the Conexor server (a real server always audits;
    /// scenario 2c measures "off" on its own).
    #[arg(long, value_parser = ["on", "off"], default_value = "on")]
    audit: String,
    /// PostgreSQL sessions per Conexor connection pool (server default if unset).
    #[arg(long)]
    conexor_pool: Option<u32>,
    /// Connections in the bench's own sqlx pool (the baseline).
    #[arg(long, default_value_t = 8)]
    sqlx_pool: u32,
    /// Rows asked for in the large-result scenarios (DBHub's cap is `max_rows`
    /// in the configuration run.sh writes: 1000).
    #[arg(long, default_value_t = 1000)]
    big_limit: u64,
}

/// One thing to measure.
struct Scenario {
    id: &'static str,
    title: &'static str,
    target: Target,
    workload: Workload,
    /// Options of the Conexor server this scenario runs against (ignored by
    /// other targets).
    server: ServerOptions,
    /// Record the memory of the process that serves the target.
    memory: bool,
}

/// The Conexor server options the command line asks for.
fn server_options(args: &Args) -> ServerOptions {
    ServerOptions {
        audit: args.audit == "on",
        fsync: true,
        pool_size: args.conexor_pool,
        agent: false,
    }
}

fn scenarios(args: &Args) -> Vec<Scenario> {
    let server = server_options(args);
    let big = Workload::Big {
        limit: args.big_limit,
    };
    let s = |id, title, target, workload, memory| Scenario {
        id,
        title,
        target,
        workload,
        server,
        memory,
    };
    vec![
        s(
            "sqlx",
            "1a. Baseline: sqlx straight to PostgreSQL",
            Target::Sqlx,
            Workload::Point,
            false,
        ),
        s(
            "sqlx-tx",
            "1b. Baseline: sqlx with Conexor's read-only transaction wrapping",
            Target::SqlxReadOnlyTx,
            Workload::Point,
            false,
        ),
        s(
            "conexor-mcp",
            "2a. Conexor over MCP (`run_query`)",
            Target::ConexorMcp,
            Workload::Point,
            false,
        ),
        Scenario {
            id: "conexor-mcp-noaudit",
            title: "2c. Conexor over MCP, audit switched off (to measure the audit's cost)",
            target: Target::ConexorMcp,
            workload: Workload::Point,
            server: ServerOptions {
                audit: false,
                ..server
            },
            memory: false,
        },
        Scenario {
            id: "conexor-mcp-crashsafe",
            title: "2d. Conexor over MCP, audit on with process-crash durability (no fsync per commit)",
            target: Target::ConexorMcp,
            workload: Workload::Point,
            server: ServerOptions {
                fsync: false,
                ..server
            },
            memory: false,
        },
        Scenario {
            id: "conexor-mcp-agent",
            title: "2e. Conexor over MCP, connection served by an on-premise agent (loopback)",
            target: Target::ConexorMcp,
            workload: Workload::Point,
            server: ServerOptions {
                agent: true,
                ..server
            },
            memory: false,
        },
        s(
            "conexor-rest",
            "2b. Conexor over REST (`POST /api/v1/query`)",
            Target::ConexorRest,
            Workload::Point,
            false,
        ),
        s(
            "dbhub-mcp",
            "3. Peer: DBHub over MCP (`execute_sql`)",
            Target::DbhubMcp,
            Workload::Point,
            false,
        ),
        s(
            "big-conexor-mcp",
            "4a. Large result through Conexor MCP",
            Target::ConexorMcp,
            big,
            true,
        ),
        Scenario {
            id: "big-conexor-mcp-agent",
            title: "4d. Large result through Conexor MCP, agent mode",
            target: Target::ConexorMcp,
            workload: big,
            server: ServerOptions {
                agent: true,
                ..server
            },
            memory: true,
        },
        s(
            "big-dbhub-mcp",
            "4b. Large result through DBHub MCP",
            Target::DbhubMcp,
            big,
            true,
        ),
        s(
            "big-sqlx",
            "4c. Large result, sqlx baseline",
            Target::Sqlx,
            big,
            false,
        ),
    ]
}

/// What one scenario produced.
enum Outcome {
    Ran(Vec<Run>),
    NotRun(String),
}

struct Run {
    stats: Stats,
    /// Over warm-up and window: the machine, and the process serving the target.
    cpu: Option<procfs::CpuShare>,
    protocol: Option<String>,
    memory: Option<MemoryDelta>,
    /// Key derivations (PBKDF2) the Conexor server ran during warm-up and window.
    derivations: Option<u64>,
}

struct MemoryDelta {
    process: &'static str,
    before: procfs::Reading,
    after: procfs::Reading,
    peak_reset: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let all = scenarios(&args);
    if args.list {
        for s in &all {
            println!("{:<16} {} — {}", s.id, s.title, s.workload.describe());
        }
        return Ok(());
    }
    for id in &args.only {
        anyhow::ensure!(
            all.iter().any(|s| s.id == id),
            "unknown scenario {id:?} (see --list)"
        );
    }
    let selected: Vec<Scenario> = all
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|id| id == s.id))
        .collect();
    let window = Window {
        warmup: Duration::try_from_secs_f64(args.warmup).context("--warmup")?,
        duration: Duration::try_from_secs_f64(args.duration).context("--duration")?,
    };
    anyhow::ensure!(!window.duration.is_zero(), "--duration must be positive");
    anyhow::ensure!(
        !args.concurrency.is_empty() && !args.concurrency.contains(&0),
        "--concurrency needs positive numbers"
    );

    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // The server logs one line per call at info, as deployed; formatted, then
    // discarded, so the cost of the line is in and the terminal is not.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::sink)
        .with_ansi(false)
        .try_init();

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.sqlx_pool)
        .min_connections(args.sqlx_pool)
        .connect(&args.pg_url)
        .await
        .context("connecting the sqlx pool to PostgreSQL")?;
    let (pg_version,): (String,) = sqlx::query_as("SHOW server_version")
        .fetch_one(&pool)
        .await
        .context("reading the PostgreSQL version")?;

    let mut servers: Vec<(ServerOptions, conexor::Server)> = Vec::new();
    let mut dbhub_tools: Option<Vec<String>> = None;
    let mut results: Vec<(&Scenario, Outcome)> = Vec::new();
    for scenario in &selected {
        eprintln!("bench: {} ({})", scenario.id, scenario.title);
        let outcome = match run_scenario(
            scenario,
            &args,
            window,
            &pool,
            &mut servers,
            &mut dbhub_tools,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("bench: {}: {e:#}", scenario.id);
                Outcome::NotRun(format!("failed: {e:#}"))
            }
        };
        results.push((scenario, outcome));
    }

    let defaults = conexor::base_config(std::path::PathBuf::new());
    print!(
        "{}",
        report(
            &args,
            window,
            &pg_version,
            &defaults,
            dbhub_tools.as_deref(),
            &results
        )
    );
    pool.close().await;
    drop(servers);
    Ok(())
}

async fn run_scenario(
    scenario: &Scenario,
    args: &Args,
    window: Window,
    pool: &sqlx::PgPool,
    servers: &mut Vec<(ServerOptions, conexor::Server)>,
    dbhub_tools: &mut Option<Vec<String>>,
) -> Result<Outcome> {
    if scenario.target == Target::DbhubMcp && args.dbhub_url.is_none() {
        let why = args
            .dbhub_unavailable
            .clone()
            .unwrap_or_else(|| "not started (no --dbhub-url)".into());
        return Ok(Outcome::NotRun(why));
    }
    let mut server = None;
    if scenario.target.is_conexor() {
        if !servers.iter().any(|(o, _)| *o == scenario.server) {
            eprintln!("bench: starting a Conexor server ({:?})", scenario.server);
            let started = conexor::start(scenario.server, &args.pg_url).await?;
            servers.push((scenario.server, started));
        }
        server = servers
            .iter()
            .find(|(o, _)| *o == scenario.server)
            .map(|(_, s)| s);
    }
    let conexor_endpoint = server.map(|s| s.endpoint.clone());
    let ends = Endpoints {
        pool: pool.clone(),
        conexor: conexor_endpoint,
        dbhub_mcp_url: args.dbhub_url.clone(),
    };
    let process = match scenario.target {
        Target::DbhubMcp => args.dbhub_pid.map(Process::Pid),
        _ => Some(Process::This),
    };

    let mut runs = Vec::new();
    for &concurrency in &args.concurrency {
        let workers = futures::future::try_join_all(
            (0..concurrency).map(|_| Worker::open(scenario.target, scenario.workload, &ends)),
        )
        .await
        .context("opening the workers' sessions")?;
        let protocol = workers[0].protocol_version();
        if scenario.target == Target::DbhubMcp && dbhub_tools.is_none() {
            let tools = workers[0].tool_names().await?;
            anyhow::ensure!(
                tools.iter().any(|t| t == "execute_sql"),
                "DBHub offers no execute_sql tool (tools: {tools:?})"
            );
            *dbhub_tools = Some(tools);
        }
        let before = match (scenario.memory, process) {
            (true, Some(p)) => Some((procfs::reset_peak(p), procfs::read(p)?)),
            _ => None,
        };
        eprintln!("bench:   concurrency {concurrency}");
        let derivations_before = server.map(|s| s.derivations());
        let watched: Vec<Process> = watched_processes(args)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let cpu_before = procfs::cpu_snapshot(&watched)?;
        let (stats, workers) = measure::drive(window, workers).await;
        let cpu = procfs::cpu_share(&cpu_before, &procfs::cpu_snapshot(&watched)?);
        let derivations = server
            .zip(derivations_before)
            .map(|(s, before)| s.derivations() - before);
        let memory = match (before, process) {
            (Some((peak_reset, before)), Some(p)) => Some(MemoryDelta {
                process: if p == Process::This {
                    "bench process (in-process Conexor server + clients)"
                } else {
                    "DBHub (node)"
                },
                before,
                after: procfs::read(p)?,
                peak_reset,
            }),
            _ => None,
        };
        eprintln!(
            "bench:   {:.0} req/s, p50 {} ms, p99 {} ms, {} errors",
            stats.throughput,
            ms(stats.p50),
            ms(stats.p99),
            stats.errors
        );
        for w in workers {
            w.close().await;
        }
        runs.push(Run {
            stats,
            cpu,
            protocol,
            memory,
            derivations,
        });
    }
    Ok(Outcome::Ran(runs))
}

/// The processes whose CPU time is reported, with their column names: the
/// bench itself (clients, in-process Conexor server), DBHub and PostgreSQL
/// when known.
fn watched_processes(args: &Args) -> Vec<(&'static str, Process)> {
    std::iter::once(("bench", Process::This))
        .chain(args.dbhub_pid.map(|p| ("DBHub", Process::Pid(p))))
        .chain(args.pg_pid.map(|p| ("PostgreSQL", Process::Tree(p))))
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn report(
    args: &Args,
    window: Window,
    pg_version: &str,
    defaults: &conexor_server::Config,
    dbhub_tools: Option<&[String]>,
    results: &[(&Scenario, Outcome)],
) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "## Set-up\n");
    let _ = writeln!(
        w,
        "- PostgreSQL {pg_version} (private, loopback, `scripts/test-env.sh`), login `cx_reader`."
    );
    let _ = writeln!(
        w,
        "- Window: {} s measured after {} s warm-up, per scenario and concurrency; closed loop (each worker waits for its answer).",
        window.duration.as_secs_f64(),
        window.warmup.as_secs_f64()
    );
    let _ = writeln!(w, "- sqlx baseline pool: {} connections.", args.sqlx_pool);
    let _ = writeln!(
        w,
        "- CPU columns: shares of all cores' time over warm-up and window (100 = every core busy): the whole machine, the bench process (clients and the in-process Conexor server), DBHub, PostgreSQL (postmaster and backends), and *other*: busy time none of them accounts for, i.e. other work on this shared machine. A run with a large *other* share was disturbed; repeat it."
    );
    let options = server_options(args);
    let _ = writeln!(
        w,
        "- Conexor: in-process server, {}; row cap default {}, max {}.",
        options.describe(defaults),
        defaults.limits.default_rows,
        defaults.limits.max_rows
    );
    match (dbhub_tools, &args.dbhub_unavailable) {
        (Some(tools), _) => {
            let _ = writeln!(w, "- DBHub tools (tools/list): {}.", tools.join(", "));
        }
        (None, Some(why)) => {
            let _ = writeln!(w, "- DBHub: not run: {why}");
        }
        (None, None) => {}
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(
        w,
        "| scenario | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors |"
    );
    let _ = writeln!(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (s, outcome) in results {
        match outcome {
            Outcome::Ran(runs) => {
                for r in runs {
                    let st = &r.stats;
                    let _ = writeln!(
                        w,
                        "| {} | {} | {:.0} | {} | {} | {} | {} |",
                        s.title,
                        st.concurrency,
                        st.throughput,
                        ms(st.p50),
                        ms(st.p95),
                        ms(st.p99),
                        st.errors
                    );
                }
            }
            Outcome::NotRun(_) => {
                let _ = writeln!(w, "| {} | — | not run | | | | |", s.title);
            }
        }
    }
    let _ = writeln!(w);

    let cpu_header = format!(
        "CPU % machine / {} / other",
        watched_processes(args)
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" / ")
    );
    for (s, outcome) in results {
        let _ = writeln!(w, "## {}\n", s.title);
        let _ = writeln!(
            w,
            "Scenario `{}`: {} via {}.\n",
            s.id,
            s.workload.describe(),
            s.target.label()
        );
        let runs = match outcome {
            Outcome::NotRun(why) => {
                let _ = writeln!(w, "Not run: {why}\n");
                continue;
            }
            Outcome::Ran(runs) => runs,
        };
        let _ = writeln!(
            w,
            "| concurrency | requests | errors | req/s | mean ms | p50 ms | p95 ms | p99 ms | max ms | answer bytes | {cpu_header} |"
        );
        let _ = writeln!(
            w,
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in runs {
            let st = &r.stats;
            let bytes = if st.mean_bytes == 0 {
                "—".to_owned()
            } else {
                st.mean_bytes.to_string()
            };
            let cpu = r
                .cpu
                .as_ref()
                .map(|c| {
                    std::iter::once(c.machine_busy)
                        .chain(c.processes.iter().copied())
                        .chain(std::iter::once(c.other()))
                        .map(|v| format!("{v:.0}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .unwrap_or_else(|| "—".to_owned());
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                st.concurrency,
                st.ok,
                st.errors,
                st.throughput,
                ms(st.mean),
                ms(st.p50),
                ms(st.p95),
                ms(st.p99),
                ms(st.max),
                bytes,
                cpu
            );
        }
        let _ = writeln!(w);
        if runs.iter().any(|r| r.memory.is_some()) {
            let _ = writeln!(
                w,
                "| concurrency | process | RSS before MiB | peak during MiB | RSS after MiB |"
            );
            let _ = writeln!(w, "| ---: | --- | ---: | ---: | ---: |");
            for r in runs {
                if let Some(m) = &r.memory {
                    let peak = if m.peak_reset {
                        procfs::mib(m.after.hwm_kib)
                    } else {
                        format!("{} (since start)", procfs::mib(m.after.hwm_kib))
                    };
                    let _ = writeln!(
                        w,
                        "| {} | {} | {} | {} | {} |",
                        r.stats.concurrency,
                        m.process,
                        procfs::mib(m.before.rss_kib),
                        peak,
                        procfs::mib(m.after.rss_kib)
                    );
                }
            }
            let _ = writeln!(w);
        }
        let derivations: Vec<String> = runs
            .iter()
            .filter_map(|r| {
                r.derivations
                    .map(|d| format!("{d} at concurrency {}", r.stats.concurrency))
            })
            .collect();
        if !derivations.is_empty() {
            let _ = writeln!(
                w,
                "Key derivations (PBKDF2) in the server during warm-up and window: {}.\n",
                derivations.join(", ")
            );
        }
        if let Some(p) = runs.iter().find_map(|r| r.protocol.as_deref()) {
            let _ = writeln!(w, "MCP protocol version negotiated: {p}.\n");
        }
        for r in runs {
            if let Some(e) = &r.stats.first_error {
                let _ = writeln!(
                    w,
                    "First error at concurrency {}: `{}`\n",
                    r.stats.concurrency,
                    e.replace('`', "'").replace('\n', " ")
                );
            }
        }
    }
    out
}
