//! Which process is a broker the agent started. A pid alone names whatever process the
//! kernel gave that number last, so a broker is known by its pid and its start time (from
//! `/proc/<pid>/stat`), recorded in the pid file when it starts, and it must still run the
//! agent's executable with its own config file. Only such a process is adopted, watched
//! or signalled.

use std::{
    path::Path,
    process::{Command, Stdio},
};

/// A broker process: its pid and when it started (clock ticks after boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerPid {
    pub pid: u32,
    pub start_ticks: u64,
}

/// The state letter and start time in a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    // The command name (field 2) may hold spaces and parentheses: fields after it are
    // counted from its last ')'. State is field 3, start time field 22.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

impl BrokerPid {
    /// The process with this pid as it is now, unless there is none or it has exited (a
    /// zombie waiting to be reaped).
    pub fn of(pid: u32) -> Option<BrokerPid> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        match parse_stat(&stat)? {
            ('Z' | 'X', _) => None,
            (_, start_ticks) => Some(BrokerPid { pid, start_ticks }),
        }
    }

    /// Whether this very process still runs (not another that got its pid).
    pub fn alive(&self) -> bool {
        BrokerPid::of(self.pid) == Some(*self)
    }

    /// Whether it runs `exe` as `broker --config <config>`.
    pub fn runs(&self, exe: &Path, config: &Path) -> bool {
        let running_exe = std::fs::read_link(format!("/proc/{}/exe", self.pid)).map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_owned()
        });
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let config = config.as_os_str().as_encoded_bytes();
        running_exe.is_ok_and(|e| Path::new(&e) == exe)
            && args
                .windows(3)
                .any(|w| w[0] == b"broker" && w[1] == b"--config" && w[2] == config)
    }

    /// The pid file's text.
    pub fn to_file(self) -> String {
        format!("{} {}\n", self.pid, self.start_ticks)
    }

    /// The broker a pid file names, if that process still runs `exe` with `config`. A pid
    /// file of an older agent (the pid alone) is read with the process's start time now,
    /// and trusted only through the executable and config check.
    pub fn from_file(text: &str, exe: &Path, config: &Path) -> Option<BrokerPid> {
        let mut words = text.split_whitespace();
        let pid: u32 = words.next()?.parse().ok()?;
        let found = BrokerPid::of(pid)?;
        let same_start = match words.next() {
            Some(start) => start.parse::<u64>().ok() == Some(found.start_ticks),
            None => true,
        };
        (same_start && found.runs(exe, config)).then_some(found)
    }

    /// Sends `sig` (e.g. "-TERM") if the process is still this broker.
    pub fn signal(&self, sig: &str) {
        if self.alive() {
            let _ = Command::new("kill")
                .args([sig, &self.pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_state_and_start_time() {
        let line = "4242 (broker-agent) S 1 4242 4242 0 -1 4194560 1000 0 0 0 12 3 0 0 20 0 9 0 987654 123456789 1000";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        let odd = "77 (a) b (c)) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0";
        assert_eq!(parse_stat(odd), Some(('Z', 555)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let me = BrokerPid::of(std::process::id()).expect("this process");
        assert!(me.alive());
        let reused = BrokerPid {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!reused.alive(), "same pid, another start: another process");
        let exe = std::env::current_exe().expect("exe");
        assert!(
            !me.runs(&exe, Path::new("/nowhere/broker.toml")),
            "not a broker"
        );
        assert_eq!(
            BrokerPid::from_file(&me.to_file(), &exe, Path::new("/nowhere/broker.toml")),
            None
        );
    }
}
