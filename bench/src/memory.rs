//! Resident memory of a process from `/proc/<pid>/status`: `VmRSS` (now)
//! and `VmHWM` (peak). The peak is reset before a measured run by writing
//! `5` to `/proc/<pid>/clear_refs` (Linux 4.0+), so that it covers that run
//! only; when the reset is refused the peak is since the process started,
//! and the report says so.
//!
//! For the in-process Conexor server this is the bench process: the figure
//! includes the benchmark's own clients (MCP sessions decoding the answers),
//! so it is an upper bound for the server.

use anyhow::{Context, Result, anyhow};

/// Which process: the bench itself or another one (DBHub).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    This,
    Pid(u32),
}

impl Process {
    fn dir(self) -> String {
        match self {
            Process::This => "/proc/self".to_owned(),
            Process::Pid(pid) => format!("/proc/{pid}"),
        }
    }
}

/// Kibibytes, as `/proc` reports them.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn read(process: Process) -> Result<Reading> {
    let path = format!("{}/status", process.dir());
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("{name} missing in {path}"))
    };
    Ok(Reading {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Resets the peak to the current RSS; false when the kernel refuses.
pub fn reset_peak(process: Process) -> bool {
    std::fs::write(format!("{}/clear_refs", process.dir()), "5").is_ok()
}

pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
