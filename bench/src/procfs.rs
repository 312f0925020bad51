//! Readings from `/proc`: CPU shares over a run, and memory.
//!
//! CPU: jiffies from `/proc/stat` (all cores) and `/proc/<pid>/stat`
//! (utime + stime of one process), as fractions of all the machine's CPU
//! time in the interval, so no clock-tick constant is needed. What neither
//! the serving process nor the machine's idle time accounts for is
//! PostgreSQL, DBHub when it is not the target, and anything else running.
//!
//! Memory: resident memory of a process from `/proc/<pid>/status`: `VmRSS` (now)
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
    /// A process and its children (PostgreSQL's postmaster and backends), for
    /// CPU time only; children that exit in between lose their share.
    Tree(u32),
}

impl Process {
    fn dir(self) -> String {
        match self {
            Process::This => "/proc/self".to_owned(),
            Process::Pid(pid) | Process::Tree(pid) => format!("/proc/{pid}"),
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

/// CPU counters at one instant.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    /// All jiffies of all cores (busy and idle).
    total: u64,
    /// Idle and I/O-wait jiffies of all cores.
    idle: u64,
    /// utime + stime of each process asked for.
    processes: Vec<u64>,
}

/// Shares of all the machine's CPU time (100 % = every core busy).
#[derive(Debug, Clone)]
pub struct CpuShare {
    pub machine_busy: f64,
    /// In the order the processes were given.
    pub processes: Vec<f64>,
}

impl CpuShare {
    /// Busy time no watched process accounts for: other work on the machine.
    pub fn other(&self) -> f64 {
        (self.machine_busy - self.processes.iter().sum::<f64>()).max(0.0)
    }
}

pub fn cpu_snapshot(processes: &[Process]) -> Result<CpuSnapshot> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .ok_or_else(|| anyhow!("no cpu line in /proc/stat"))?
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok(CpuSnapshot {
        total,
        idle,
        processes: processes
            .iter()
            .map(|p| process_jiffies(*p))
            .collect::<Result<_>>()?,
    })
}

/// utime + stime of a process (and, for a tree, of its children).
fn process_jiffies(process: Process) -> Result<u64> {
    let own = stat_jiffies(&format!("{}/stat", process.dir()))?;
    let Process::Tree(pid) = process else {
        return Ok(own);
    };
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .with_context(|| format!("reading the children of process {pid}"))?;
    Ok(own
        + children
            .split_whitespace()
            .filter_map(|child| stat_jiffies(&format!("/proc/{child}/stat")).ok())
            .sum::<u64>())
}

/// utime + stime from a `/proc/<pid>/stat` file.
fn stat_jiffies(path: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces: count fields from after its ')'.
    // There, state (field 3 of the line) is index 0, so utime (14) and
    // stime (15) are indexes 11 and 12.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let at = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("unexpected contents of {path}"))
    };
    Ok(at(11)? + at(12)?)
}

pub fn cpu_share(before: &CpuSnapshot, after: &CpuSnapshot) -> Option<CpuShare> {
    let total = after.total.checked_sub(before.total).filter(|t| *t > 0)? as f64;
    let idle = after.idle.saturating_sub(before.idle) as f64;
    Some(CpuShare {
        machine_busy: 100.0 * (total - idle).max(0.0) / total,
        processes: before
            .processes
            .iter()
            .zip(&after.processes)
            .map(|(b, a)| 100.0 * a.saturating_sub(*b) as f64 / total)
            .collect(),
    })
}
