//! The control-plane binary refuses bad configuration with a reason and a non-zero exit.

use std::process::Command;

fn serve(args: &[&str]) -> (bool, String) {
    let out = Command::new(e2e::binary("control-plane").expect("binary"))
        .arg("serve")
        .args(args)
        .env_remove("TIDEWAY_JWT_SECRET")
        .output()
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_exits_non_zero_with_the_reason() {
    let db = "postgres://postgres@127.0.0.1:1/none";
    let (ok, err) = serve(&["--database-url", db, "--jwt-secret", "short"]);
    assert!(!ok);
    assert!(
        err.contains("TIDEWAY_JWT_SECRET must be at least 32 characters"),
        "{err}"
    );

    let secret = "0123456789abcdef0123456789abcdef";
    let (ok, err) = serve(&[
        "--database-url",
        db,
        "--jwt-secret",
        secret,
        "--ldap-url",
        "ldap://x",
        "--ldap-group-roles",
        "cn=x=>team:owner",
    ]);
    assert!(!ok);
    assert!(err.contains("unknown role"), "{err}");

    let (ok, err) = serve(&[
        "--database-url",
        db,
        "--jwt-secret",
        secret,
        "--session-ttl",
        "soon",
    ]);
    assert!(!ok);
    assert!(err.contains("--session-ttl"), "{err}");

    let (ok, err) = serve(&["--database-url", db, "--jwt-secret", secret]);
    assert!(!ok);
    assert!(err.contains("failed to connect to the database"), "{err}");
}
