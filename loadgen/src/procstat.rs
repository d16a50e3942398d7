//! The machine and the processes under test, read from /proc.
//!
//! Guarantees: reading never fails the run: a missing or unreadable file
//! gives `None` (the report then says "not measured"); CPU time is user plus
//! system time of the process in seconds (clock ticks of 1/100 s, the fixed
//! USER_HZ of Linux), peak memory is VmHWM in bytes.

use serde::{Deserialize, Serialize};

/// The machine the run was on, as the report's `machine` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Machine {
    /// The CPU's model name from /proc/cpuinfo, `unknown` if none.
    pub cpu_model: String,
    /// Logical CPUs this process may use (at least 1).
    pub cores: usize,
    /// Total memory (MemTotal), bytes; 0 if unknown.
    pub memory_bytes: u64,
    /// The distribution's PRETTY_NAME from /etc/os-release, else the OS
    /// family (`linux`).
    pub os: String,
    /// The kernel release; empty if unknown.
    pub kernel: String,
    /// The host name; empty if unknown.
    pub hostname: String,
}

/// Reads the machine's description from /proc and /etc/os-release; a
/// missing field gets the default noted on [`Machine`].
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "model name" | "Model" | "cpu model").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib_field(&m, "MemTotal:"))
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Machine {
        cpu_model,
        cores,
        memory_bytes,
        os,
        kernel,
        hostname,
    }
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    })
}

/// CPU seconds (user + system) of process `pid` since it started, from
/// `/proc/<pid>/stat`; `None` when the process is gone or the file unreadable.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Peak resident memory (VmHWM) of process `pid` since it started, bytes;
/// `None` when the process is gone or the file unreadable.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, "VmHWM:")
}

/// What a process under test used during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// `switch`, `simulator` or `loadgen`.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// CPU seconds spent during the load (end minus start).
    pub cpu_seconds: Option<f64>,
    /// CPU seconds divided by the load's wall time: cores in use on average.
    pub cpu_cores_avg: Option<f64>,
    /// Peak resident memory since the process started, bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// Samples a process before and after the load: made by
/// [`ProcessProbe::start`] when the load begins, read by
/// [`ProcessProbe::finish`] when it ends.
#[derive(Debug, Clone)]
pub struct ProcessProbe {
    /// The name given to the usage (`switch`, `simulator`, `loadgen`).
    pub name: String,
    /// The process measured.
    pub pid: u32,
    cpu_start: Option<f64>,
}

impl ProcessProbe {
    /// Starts measuring `pid` now (reads its CPU seconds); `name` is copied
    /// into the [`ProcessUsage`].
    pub fn start(name: &str, pid: u32) -> Self {
        ProcessProbe {
            name: name.to_string(),
            pid,
            cpu_start: cpu_seconds(pid),
        }
    }

    /// The usage since [`ProcessProbe::start`], over `wall_secs` seconds of
    /// load: CPU seconds and average cores are `None` if either reading
    /// failed (average cores also when `wall_secs` is not positive), and
    /// average cores are rounded to 1/1000.
    pub fn finish(&self, wall_secs: f64) -> ProcessUsage {
        let cpu = match (self.cpu_start, cpu_seconds(self.pid)) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        ProcessUsage {
            name: self.name.clone(),
            pid: self.pid,
            cpu_seconds: cpu,
            cpu_cores_avg: cpu
                .filter(|_| wall_secs > 0.0)
                .map(|c| (c / wall_secs * 1000.0).round() / 1000.0),
            peak_rss_bytes: peak_rss(self.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process_and_machine() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(peak_rss(pid).unwrap_or(0) > 0);
        let m = machine();
        assert!(m.cores >= 1);
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}
