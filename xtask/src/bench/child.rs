//! Runs one benchmark child process and measures its wall time and peak memory.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Measurements and result line of one finished child process.
#[derive(Debug)]
pub struct ChildRun {
    /// Wall time from spawn to exit.
    pub wall_s: f64,
    /// Peak resident set size of the child and the descendants it waited for, in MiB
    /// (`ru_maxrss` from `wait4`).
    pub peak_rss_mib: f64,
    /// The last line of standard output that parses as a JSON object.
    pub record: Value,
}

/// Runs `command` to completion, killing it after `timeout`; returns its wall time, peak
/// memory and JSON result line. Fails when the child times out, exits non-zero or prints no
/// JSON object, with the tail of its standard error.
pub fn run_child(mut command: Command, timeout: Duration) -> Result<ChildRun> {
    let description = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own lets a timeout end the grandchildren too (Brian2's standalone
        // program, NEST's helpers).
        .process_group(0);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("failed to start {description}"))?;
    let stdout = child.stdout.take().context("child stdout missing")?;
    let stderr = child.stderr.take().context("child stderr missing")?;
    let stdout_reader = thread::spawn(move || read_all(stdout));
    let stderr_reader = thread::spawn(move || read_all(stderr));

    let pid = child.id() as libc::pid_t;
    let (status, usage) = wait_with_timeout(pid, started, timeout)?;
    let wall_s = started.elapsed().as_secs_f64();
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    // The child was reaped by wait4; dropping the handle does not wait again.
    drop(child);

    let Some(status) = status else {
        bail!(
            "timed out after {:.0} s: {description}\n{}",
            timeout.as_secs_f64(),
            tail(&stderr)
        );
    };
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!(
            "failed with wait status {status}: {description}\n{}",
            tail(&stderr)
        );
    }
    let record = last_json_object(&stdout).with_context(|| {
        format!(
            "no JSON result line in the output of {description}\n{}",
            tail(&stderr)
        )
    })?;
    Ok(ChildRun {
        wall_s,
        // Linux reports ru_maxrss in KiB.
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        record,
    })
}

/// Polls `wait4` until the child exits or `timeout` passes; on a timeout kills the child,
/// reaps it and returns `None` as the status.
fn wait_with_timeout(
    pid: libc::pid_t,
    started: Instant,
    timeout: Duration,
) -> Result<(Option<i32>, libc::rusage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data, so all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is a child of this process that nothing else waits for, and both
        // pointers refer to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            return Ok((Some(status), usage));
        }
        if reaped < 0 {
            return Err(std::io::Error::last_os_error()).context("wait4 failed");
        }
        if started.elapsed() > timeout {
            // SAFETY: pid is our own unreaped child and the leader of its own process group,
            // so neither id can have been reused.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            // SAFETY: as above, blocking until the killed child is reaped.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            return Ok((None, usage));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(mut source: impl Read) -> String {
    let mut bytes = Vec::new();
    let _ = source.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Returns the last line of `output` that parses as a JSON object.
pub fn last_json_object(output: &str) -> Option<Value> {
    output
        .lines()
        .rev()
        .filter(|line| line.trim_start().starts_with('{'))
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
        })
}

/// Returns the last lines of a child's standard error for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}
