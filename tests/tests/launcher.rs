//! `./tideway up` keeps its word: it brings up PostgreSQL, the control plane, an agent and
//! a demo cluster, and Ctrl-C (SIGINT to its whole process group, as a terminal sends it)
//! stops every one of them, PostgreSQL and the broker included.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use e2e::free_port;

/// Whether something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().expect("address"),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Whether a process with this pid runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
        .unwrap_or(false)
}

/// The pids of the brokers the local agent started.
fn broker_pids(state: &Path) -> Vec<u32> {
    let Ok(dirs) = std::fs::read_dir(state.join("agent/brokers")) else {
        return Vec::new();
    };
    dirs.filter_map(|d| std::fs::read_to_string(d.ok()?.path().join("broker.pid")).ok())
        // "PID START-TIME"
        .filter_map(|p| p.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn ctrl_c_stops_everything_up_started() {
    let state = tempfile::tempdir().expect("state");
    let (pg, http, ops, agent_metrics, brokers) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tideway");
    let mut up = Command::new(launcher)
        .arg("up")
        .env("TIDEWAY_STATE", state.path())
        .env("TIDEWAY_PG_PORT", pg.to_string())
        .env("TIDEWAY_LISTEN", format!("127.0.0.1:{http}"))
        .env("TIDEWAY_OPS_LISTEN", format!("127.0.0.1:{ops}"))
        .env(
            "TIDEWAY_AGENT_METRICS",
            format!("127.0.0.1:{agent_metrics}"),
        )
        .env("TIDEWAY_BROKER_PORTS", format!("{brokers}-{brokers}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group, as a shell gives a foreground job.
        .process_group(0)
        .spawn()
        .expect("./tideway up");
    let pgid = up.id();
    let (said, lines) = mpsc::channel();
    let stdout = up.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("Tideway is up.") => break,
            Ok(_) => {}
            Err(_) => panic!("./tideway up never said it was up"),
        }
    }
    let brokers_running = broker_pids(state.path());
    assert_eq!(brokers_running.len(), 1, "the demo cluster's broker");
    assert!(brokers_running.iter().all(|p| running(*p)));
    for port in [pg, http, ops, agent_metrics, brokers] {
        assert!(listening(port), "port {port} serves while up runs");
    }

    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = up.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "./tideway up did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "up ends cleanly on Ctrl-C: {status}");
    for port in [pg, http, ops, agent_metrics, brokers] {
        assert!(!listening(port), "port {port} still serves after Ctrl-C");
    }
    assert!(
        brokers_running.iter().all(|p| !running(*p)),
        "the broker was stopped"
    );
}
