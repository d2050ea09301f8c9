//! The broker against hostile clients, with raw sockets: frames before login are capped
//! at 512 KiB, connections are capped per address, idle connections and half-sent frames
//! time out, and a flood of huge, slowly sent frames does not grow the broker's memory
//! with the bytes it was sent (its RSS is measured against its own baseline).

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::{
    raw::{call, connect},
    BrokerProcess,
};
use kafka_protocol::messages::ApiVersionsRequest;

/// Starts a broker whose file config holds `toml`.
fn broker_with(dir: &std::path::Path, toml: &str) -> BrokerProcess {
    let config = dir.join("broker.toml");
    std::fs::write(&config, toml).expect("config");
    BrokerProcess::start(
        &dir.join("data"),
        &["--config", config.to_str().expect("utf8")],
    )
}

/// Whether the broker closes `s` within `within` (EOF or reset), reading nothing.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the broker sent bytes nobody asked for"),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => false,
        Err(_) => true,
    }
}

/// A connection that got an answer to ApiVersions, i.e. one the broker admitted.
fn admitted(addr: &str) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        call(&mut s, &ApiVersionsRequest::default(), 0)
    }))
    .ok()?;
    (r.error_code == 0).then_some(s)
}

#[test]
fn frames_before_login_are_capped_and_connections_are_limited_per_address() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = broker_with(
        dir.path(),
        r#"
[connections]
max-connections-per-ip = 8

[[listeners]]
name = "SASL"
protocol = "SASL_PLAINTEXT"
listen = "127.0.0.1:0"
"#,
    );
    let sasl = broker.listener("SASL");

    // Before login a client may ask ApiVersions, but a frame over 512 KiB closes the
    // connection before any of it is read.
    let mut small = admitted(&sasl).expect("ApiVersions before login");
    small
        .write_all(&(512 * 1024 + 1i32).to_be_bytes())
        .expect("header");
    assert!(closed_within(&mut small, Duration::from_secs(10)));
    drop(small);
    // On a listener without login the same length only waits for its body.
    let mut open = connect(&broker);
    open.write_all(&(512 * 1024 + 1i32).to_be_bytes())
        .expect("header");
    assert!(!closed_within(&mut open, Duration::from_millis(500)));
    drop(open);

    // Eight connections from this address are served, the ninth is closed at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut held = Vec::new();
    while held.len() < 8 {
        // Connections closed above may take a moment to be counted out.
        match admitted(&broker.bootstrap) {
            Some(s) => held.push(s),
            None => assert!(Instant::now() < deadline, "only {} admitted", held.len()),
        }
    }
    let mut ninth = TcpStream::connect(&broker.bootstrap).expect("the kernel accepts");
    assert!(
        closed_within(&mut ninth, Duration::from_secs(10)),
        "the ninth connection is closed"
    );
    assert!(admitted(&sasl).is_none(), "the cap spans listeners");

    // A freed place is served again.
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while admitted(&broker.bootstrap).is_none() {
        assert!(
            Instant::now() < deadline,
            "the freed place was never reused"
        );
    }
}

#[test]
fn idle_connections_and_half_sent_frames_time_out() {
    let dir = tempfile::tempdir().expect("dir");
    let broker = broker_with(
        dir.path(),
        r#"
[connections]
connections-max-idle = "1s"
frame-read-timeout = "1s"
"#,
    );
    let mut idle = admitted(&broker.bootstrap).expect("served");
    assert!(closed_within(&mut idle, Duration::from_secs(10)), "idle");

    let mut half = connect(&broker);
    half.write_all(&100i32.to_be_bytes()).expect("header");
    half.write_all(&[0u8; 10]).expect("a tenth of the frame");
    assert!(
        closed_within(&mut half, Duration::from_secs(10)),
        "half-sent"
    );

    // A connection that keeps asking is not idle.
    let mut busy = admitted(&broker.bootstrap).expect("served");
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let r = call(&mut busy, &ApiVersionsRequest::default(), 0);
        assert_eq!(r.error_code, 0);
        assert!(!closed_within(&mut busy, Duration::from_millis(300)));
    }
}

/// The broker's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

#[test]
fn a_flood_of_huge_slow_frames_does_not_grow_memory_with_what_it_sends() {
    const CLIENTS: usize = 150;
    const CLAIMED: i32 = 50 << 20;
    const SENT: usize = 1 << 20;
    let dir = tempfile::tempdir().expect("dir");
    let broker = broker_with(
        dir.path(),
        r#"
[connections]
max-connections-per-ip = 200
"#,
    );
    let pid = broker.child.id();
    let baseline = rss_bytes(pid);

    // Each client claims a 50 MiB frame, sends 1 MiB of it and stalls: 150 MiB in all.
    let chunk = vec![7u8; SENT];
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut s = TcpStream::connect(&broker.bootstrap).expect("connect");
            s.write_all(&CLAIMED.to_be_bytes()).expect("header");
            s
        })
        .collect();
    let writers: Vec<_> = clients
        .into_iter()
        .map(|mut s| {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                // The broker may not read it all (that is the point); the kernel buffers
                // what it can and the write gives up after a while.
                s.set_write_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let _ = s.write_all(&chunk);
                s
            })
        })
        .collect();
    let clients: Vec<TcpStream> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();

    // A measurement window: the broker has had every byte it will take; its memory must
    // not follow the 150 MiB it was sent (a broker that buffered whole frames would hold
    // them all; this one holds only what the request budget lets in).
    let mut peak = rss_bytes(pid);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        peak = peak.max(rss_bytes(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let grown = peak.saturating_sub(baseline);
    println!(
        "RSS {} MiB at rest, {} MiB at peak under {CLIENTS} clients sending {} MiB",
        baseline >> 20,
        peak >> 20,
        (CLIENTS * SENT) >> 20
    );
    assert!(
        grown < (CLIENTS * SENT / 2) as u64,
        "the broker grew by {} MiB while sent {} MiB",
        grown >> 20,
        (CLIENTS * SENT) >> 20
    );

    // And it still serves others once the flood is gone.
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    while admitted(&broker.bootstrap).is_none() {
        assert!(Instant::now() < deadline, "the broker stopped serving");
    }
}
