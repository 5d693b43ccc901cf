//! External drivers the suites run: a Node or Python script that plays a person in a browser
//! or a vendor's client library. Each runs in a process group of its own with its output
//! captured in files, is killed with everything it started past a timeout, and reports on its
//! last line of JSON.

use std::fmt;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How a driver ended and what it printed.
#[derive(Debug)]
pub struct DriverRun {
    pub success: bool,
    /// Its exit status, or that it was killed.
    pub status: String,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl DriverRun {
    /// The last line of its output that is JSON: its report (`null` when none).
    pub fn report(&self) -> Value {
        self.stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
            .unwrap_or(Value::Null)
    }
}

impl fmt::Display for DriverRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `command` (blocking) until it exits or `timeout` passes, then kills its whole process
/// group (a browser it started too). A command that cannot start fails the test with
/// `cannot_start`, which says what to install.
pub fn run(mut command: Command, timeout: Duration, cannot_start: &str) -> DriverRun {
    let out = tempfile::TempDir::new().expect("a folder for the driver's output");
    let stdout_path = out.path().join("stdout");
    let stderr_path = out.path().join("stderr");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not run the driver ({e}): {cannot_start}"));
    let started = Instant::now();
    let (success, status) = loop {
        if let Some(status) = child.try_wait().expect("poll the driver") {
            break (status.success(), status.to_string());
        }
        if started.elapsed() >= timeout {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break (false, format!("killed after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    DriverRun {
        success,
        status,
        elapsed: started.elapsed(),
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}
