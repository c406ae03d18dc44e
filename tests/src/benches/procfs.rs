//! CPU time and load from `/proc`: what the benchmark reports next to its latencies.

use std::path::Path;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux when
/// `getconf` is unavailable, as the kernel ABI fixes USER_HZ at 100 on every common platform).
pub fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// utime + stime of process `pid` in clock ticks (all its threads, live and exited).
pub fn process_cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    stat_cpu_ticks(&text).ok_or_else(|| format!("{path}: no utime/stime fields in `{text}`"))
}

/// utime (field 14) + stime (field 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// is in parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// On-CPU time of the calling thread, in nanoseconds (`/proc/thread-self/schedstat`, first
/// field): far finer than clock ticks, for timing a few thousand signatures.
pub fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The first three fields of `/proc/loadavg` ("1.23 0.98 0.50"), or "unknown".
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU ticks of every process whose command line contains `needle`, as (pid, ticks).
///
/// Postgres names each backend process after its database ("postgres: 15/main: postgres
/// verity_test_... 127.0.0.1(5432) idle"), so this finds the backends serving one database
/// without asking the database.
pub fn processes_matching(needle: &str) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = Path::new("/proc").join(pid.to_string());
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        if let Ok(ticks) = process_cpu_ticks(pid) {
            out.push((pid, ticks));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_a_tricky_name() {
        // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime ...
        let line = "4242 (a b) (c)) S 1 2 3 4 5 6 7 8 9 10 1234 567 0 0 20 0 4 0";
        assert_eq!(stat_cpu_ticks(line), Some(1234 + 567));
        assert_eq!(stat_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn own_process_has_cpu_time_and_load_is_read() {
        let pid = std::process::id();
        // Burn a little CPU so the tick count cannot be zero on a coarse clock.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(process_cpu_ticks(pid).unwrap() > 0);
        assert!(thread_cpu_time().unwrap() > Duration::ZERO);
        assert_eq!(load_average().split(' ').count(), 3);
        assert!(clock_ticks_per_sec() > 0);
        assert!(process_cpu_ticks(u32::MAX).is_err());
    }
}
