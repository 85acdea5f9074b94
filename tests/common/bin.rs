//! Running the real `statwatch` binary: every test starts it through [`Statwatch`], which
//! fixes the environment a run depends on (log level, plain log lines, no inherited config
//! path or systemd sockets), so a test's outcome does not depend on the shell it was run from.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_statwatch");

/// One invocation of the binary, built up like a [`Command`] and then run blocking, awaited
/// (on the test's runtime, whose fake servers keep serving meanwhile) or spawned.
pub struct Statwatch(Command);

impl Statwatch {
    /// `statwatch` with no `--config`.
    pub fn without_config() -> Statwatch {
        let mut cmd = Command::new(BIN);
        cmd.env("RUST_LOG", "info")
            // As under systemd: log lines without timestamps, plain to match on.
            .env("JOURNAL_STREAM", "1:1")
            .env_remove("STATWATCH_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID");
        Statwatch(cmd)
    }

    /// `statwatch --config CONFIG`.
    pub fn with_config(config: &Path) -> Statwatch {
        Statwatch::without_config().args([OsStr::new("--config"), config.as_os_str()])
    }

    pub fn args<I, S>(mut self, args: I) -> Statwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.0.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Statwatch {
        self.0.env(key, value);
        self
    }

    /// Its output goes nowhere (a run that is killed, or not read).
    pub fn quiet(mut self) -> Statwatch {
        self.0.stdout(Stdio::null()).stderr(Stdio::null());
        self
    }

    /// Only these variables, as a service manager would start it.
    pub fn only_env(mut self, vars: &[(&str, &str)]) -> Statwatch {
        self.0.env_clear().envs(vars.iter().copied());
        self
    }

    /// The same run under another program (`/usr/bin/time -v`, say): its arguments, then the
    /// binary and this run's arguments, in this run's environment.
    pub fn under(self, program: &str, program_args: &[&str]) -> Statwatch {
        let mut first: Vec<&OsStr> = program_args.iter().map(OsStr::new).collect();
        first.push(OsStr::new(BIN));
        self.rerun_as(program, &first)
    }

    /// The same run of another build of the binary (a release build a bench measures).
    pub fn of_binary(self, bin: &str) -> Statwatch {
        self.rerun_as(bin, &[])
    }

    /// `program`, then `first`, then this run's arguments, in this run's environment.
    fn rerun_as(self, program: &str, first: &[&OsStr]) -> Statwatch {
        let mut cmd = Command::new(program);
        cmd.args(first).args(self.0.get_args());
        for (key, value) in self.0.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        Statwatch(cmd)
    }

    /// The command itself, for what is set on a [`Command`] only (working directory, stdio).
    pub fn command(self) -> Command {
        self.0
    }

    /// Runs it to the end, blocking this thread.
    pub fn output(mut self) -> Output {
        self.0.output().expect("run statwatch")
    }

    /// Runs it to the end without blocking the runtime.
    pub async fn run(self) -> Output {
        tokio::process::Command::from(self.0)
            .output()
            .await
            .expect("run statwatch")
    }

    /// Starts it on the runtime, killed if the handle is dropped (a failing test).
    pub fn spawn(self) -> tokio::process::Child {
        tokio::process::Command::from(self.0)
            .kill_on_drop(true)
            .spawn()
            .expect("start statwatch")
    }
}

/// `statwatch --config CONFIG ARGS...`, awaited.
pub async fn statwatch(config: &Path, args: &[&str]) -> Output {
    Statwatch::with_config(config).args(args).run().await
}

/// `statwatch --config CONFIG ARGS...` from a test that is not async.
pub fn statwatch_blocking(config: &Path, args: &[&str]) -> Output {
    Statwatch::with_config(config).args(args).output()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `statwatch series ID --json`, parsed.
pub async fn series_json(config: &Path, id: &str) -> Value {
    let o = statwatch(config, &["series", id, "--json"]).await;
    assert!(o.status.success(), "series failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("series --json is JSON")
}

/// The observation of `period` in a `series --json` answer.
pub fn observation<'a>(series: &'a Value, period: &str) -> &'a Value {
    series["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["period"] == period)
        .unwrap_or_else(|| panic!("no {period} in {series}"))
}
