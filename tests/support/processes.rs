//! Sink processes the fault tests start, stop, kill and watch: the built
//! `sobject-sink` executable with its log in a file, and its resource use read from
//! `/proc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A running `sobject-sink` process (killed on drop if still running).
pub struct SinkProcess {
    child: Child,
    /// Its REST API, `http://127.0.0.1:PORT`.
    pub rest: String,
    log: PathBuf,
}

impl SinkProcess {
    /// Starts `sobject-sink <mode> <files...>` logging at `RUST_LOG=warn` (or
    /// `$WORKER_LOG`) into `dir/<label>.log`.
    pub fn start(
        dir: &Path,
        label: &str,
        mode: &str,
        files: &[PathBuf],
        rest: &str,
    ) -> SinkProcess {
        let log = dir.join(format!("{label}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sobject-sink"))
            .arg(mode)
            .args(files)
            .env(
                "RUST_LOG",
                std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("the sink starts");
        SinkProcess {
            child,
            rest: rest.to_string(),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the REST API answers.
    pub fn wait_rest(&self, rt: &tokio::runtime::Runtime) {
        let deadline = Instant::now() + super::PATIENCE;
        while rt
            .block_on(async { reqwest::get(format!("{}/", self.rest)).await })
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "{} did not come up; log:\n{}",
                self.rest,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no drain, no commit, no leaving the group.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("exit status")
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A worker file for `bootstrap` with the REST API on a free port, plus `extra` keys;
/// returns the file and the REST URL.
pub fn worker_file(
    dir: &Path,
    label: &str,
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> (PathBuf, String) {
    let port = sobject_sink::demo::broker::free_port();
    let rest = format!("http://127.0.0.1:{port}");
    let map: BTreeMap<String, String> = [
        ("bootstrap.servers", bootstrap),
        ("listeners", rest.as_str()),
        ("task.shutdown.graceful.timeout.ms", "10000"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let path = dir.join(format!("{label}.properties"));
    super::write_properties(&path, &map);
    (path, rest)
}

/// What `/proc` says about a process at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/fd`.
pub fn sample(pid: u32) -> ProcSample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("proc fd")
        .count() as u64;
    ProcSample {
        rss_kib: field("VmRSS:"),
        threads: field("Threads:"),
        fds,
    }
}
