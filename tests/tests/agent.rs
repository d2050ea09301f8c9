//! A real `broker-agent run` process against the real control plane: it registers its
//! host with real capacity, heartbeats and reports the applied generation; the host goes
//! offline when the agent dies or its token is revoked, and comes back under the same id.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use e2e::{binary, start_agent, ControlPlane};
use tideway_api::{
    agents::CreateAgentToken, client::Client, clusters::StorageBackend, hosts::Host,
};

/// Waits until host-1 satisfies `ok`, returning it.
async fn wait_for(admin: &Client, what: &str, ok: impl Fn(&Host) -> bool) -> Host {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hosts = admin.list_hosts().await.expect("hosts");
        if let Some(h) = hosts.into_iter().find(|h| h.name == "host-1" && ok(h)) {
            return h;
        }
        assert!(Instant::now() < deadline, "host-1 never became {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_agent_registers_heartbeats_and_its_host_goes_offline_when_it_stops() {
    let cp = ControlPlane::start(&[
        "--host-offline-after",
        "2s",
        "--heartbeat-interval",
        "500ms",
    ])
    .await
    .expect("control plane");
    let admin = cp.admin().await.expect("admin");
    let token = admin
        .create_agent_token(&CreateAgentToken {
            name: "e2e".into(),
            expires_in_days: None,
        })
        .await
        .expect("token");
    let root = tempfile::tempdir().expect("root");

    let agent = start_agent(&cp.url, &token.secret, "host-1", root.path()).expect("agent");
    let host = wait_for(&admin, "online and in step", |h| {
        h.state == "online" && h.observed_generation.is_some()
    })
    .await;
    assert_eq!(host.address, "127.0.0.1");
    assert!(host.capacity.cpus >= 1 && host.capacity.memory_bytes > 0);
    let storage = &host.storage[0];
    assert_eq!(storage.backend, StorageBackend::LocalSsd);
    assert!(storage.total_bytes > 0 && storage.free_bytes <= storage.total_bytes);
    assert_eq!(host.labels["rack"], "host-1");
    assert_eq!(host.observed_generation, Some(host.generation));
    assert!(root.path().join("volumes").is_dir());

    // A crash: the host goes offline; a restarted agent brings it back under the same id.
    drop(agent);
    wait_for(&admin, "offline", |h| h.state == "offline").await;
    let agent = start_agent(&cp.url, &token.secret, "host-1", root.path()).expect("agent");
    let back = wait_for(&admin, "online again", |h| h.state == "online").await;
    assert_eq!(back.id, host.id);

    // A revoked token is refused at once: the agent keeps retrying but the host goes offline.
    admin
        .revoke_agent_token(token.token.id)
        .await
        .expect("revoke");
    wait_for(&admin, "offline after revocation", |h| h.state == "offline").await;
    let mut agent = agent;
    assert!(
        agent.child.try_wait().expect("status").is_none(),
        "the agent retries rather than exiting"
    );
}

#[test]
fn bad_agent_flags_exit_non_zero_with_the_reason() {
    let root = tempfile::tempdir().expect("root");
    let base = [
        "run",
        "--control-plane",
        "http://127.0.0.1:1",
        "--name",
        "h",
        "--address",
        "a",
    ];
    for (extra, reason) in [
        (vec!["--storage", "nfs=server"], "SERVER:/EXPORT"),
        (
            vec!["--storage", "ceph-rbd=/etc/ceph/ceph.conf,rbd,attach=iscsi"],
            "attach=",
        ),
        (vec!["--port-range", "9-1"], "--port-range"),
        (vec!["--profile", "mainframe"], "--profile"),
        (vec!["--labels", "rack"], "k=v"),
    ] {
        let out = Command::new(binary("broker-agent").expect("binary"))
            .args(base)
            .arg("--data-root")
            .arg(root.path())
            .args(&extra)
            .env("TIDEWAY_AGENT_TOKEN", "t")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} must fail");
        assert!(
            err.contains(reason),
            "{extra:?}: expected {reason:?} in {err}"
        );
    }
}

#[test]
fn the_agent_token_never_comes_from_the_command_line_nor_a_readable_file() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("root");
    let file = root.path().join("agent-token");
    std::fs::write(&file, "secret-token\n").expect("token file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let file = file.to_str().expect("utf8").to_owned();
    let run = |extra: &[&str]| {
        let out = Command::new(binary("broker-agent").expect("binary"))
            .args([
                "run",
                "--control-plane",
                "http://127.0.0.1:1",
                "--name",
                "h",
            ])
            .args(["--address", "a", "--data-root"])
            .arg(root.path())
            .args(extra)
            .env_remove("TIDEWAY_AGENT_TOKEN")
            .env_remove("TIDEWAY_AGENT_TOKEN_FILE")
            .output()
            .expect("run");
        assert!(!out.status.success(), "{extra:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--token", "secret-token"]);
    assert!(err.contains("unexpected argument '--token'"), "{err}");
    let err = run(&[]);
    assert!(
        err.contains("give the agent token with --token-file FILE or the TIDEWAY_AGENT_TOKEN environment variable"),
        "{err}"
    );
    let err = run(&["--token-file", &file]);
    assert!(
        err.contains("mode 644 lets other users read the token; chmod 600 it"),
        "{err}"
    );
    assert!(
        !err.contains("secret-token"),
        "the token is never printed: {err}"
    );
}
