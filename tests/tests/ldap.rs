//! Directory login against a real slapd, through the real control-plane binary.

use e2e::{
    slapd::{self, Slapd},
    ControlPlane,
};
use tideway_api::{tenants::CreateTenant, Role};

async fn setup() -> (Slapd, ControlPlane) {
    let ldap = Slapd::start().await.expect("slapd");
    let flags = slapd::control_plane_flags(&ldap.url);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cp = ControlPlane::start(&flags).await.expect("control plane");
    let admin = cp.admin().await.expect("admin");
    admin
        .create_tenant(&CreateTenant {
            name: "team-a".into(),
            display_name: None,
            auto_approve: false,
            quota: None,
        })
        .await
        .expect("tenant");
    (ldap, cp)
}

#[tokio::test]
async fn a_good_bind_logs_in_and_groups_map_to_roles() {
    let (_ldap, cp) = setup().await;
    let alice = cp
        .client()
        .login("alice", "alicepw")
        .await
        .expect("alice logs in");
    let me = alice.me().await.expect("me");
    assert_eq!(me.actor, "user:alice");
    assert!(me.platform_admin, "alice is in cn=admins");

    let bob = cp
        .client()
        .login("bob", "bobpw")
        .await
        .expect("bob logs in");
    let me = bob.me().await.expect("me");
    assert!(!me.platform_admin);
    assert_eq!(me.memberships.len(), 1);
    assert_eq!(
        (
            me.memberships[0].tenant_name.as_str(),
            me.memberships[0].role
        ),
        ("team-a", Role::Member)
    );

    let carol = cp
        .client()
        .login("carol", "carolpw")
        .await
        .expect("carol logs in");
    let me = carol.me().await.expect("me");
    assert!(
        !me.platform_admin && me.memberships.is_empty(),
        "carol is in no group: {me:?}"
    );
}

#[tokio::test]
async fn bad_passwords_unknown_users_and_empty_passwords_are_refused() {
    let (_ldap, cp) = setup().await;
    for (user, pw) in [
        ("alice", "wrong"),
        ("alice", ""),
        ("nobody", "x"),
        ("", "alicepw"),
        ("bob", "alicepw"),
    ] {
        let err = cp
            .client()
            .login(user, pw)
            .await
            .expect_err(&format!("{user:?}/{pw:?} must fail"));
        assert_eq!(err.status(), Some(401), "{user:?}/{pw:?}: {err}");
        assert!(
            err.to_string().contains("invalid username or password"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn filter_metacharacters_in_the_username_are_escaped() {
    let (_ldap, cp) = setup().await;
    // Injection attempts match nobody (unescaped, `*` would match alice or everyone).
    for user in ["*", "alice)(uid=*", "a*", "*)(|(uid=*", "alice\\"] {
        let err = cp
            .client()
            .login(user, "alicepw")
            .await
            .expect_err(&format!("{user:?} must fail"));
        assert_eq!(err.status(), Some(401), "{user:?}: {err}");
    }
    // A real user whose name is made of metacharacters logs in, and their group is found.
    let jane = cp
        .client()
        .login("j*ne(x)\\", "janepw")
        .await
        .expect("the metacharacter user logs in");
    let me = jane.me().await.expect("me");
    assert_eq!(me.actor, "user:j*ne(x)\\");
    assert_eq!(me.memberships.len(), 1, "{me:?}");
    let err = cp
        .client()
        .login("j*", "janepw")
        .await
        .expect_err("a prefix must not match");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn directory_roles_follow_the_directory_and_manual_grants_stay() {
    let (ldap, cp) = setup().await;
    let admin = cp.admin().await.expect("admin");
    let bob = cp.client().login("bob", "bobpw").await.expect("bob");
    assert_eq!(bob.me().await.expect("me").memberships.len(), 1);

    // carol gets a manual membership; it survives her next directory login.
    let tenant = admin.list_tenants().await.expect("tenants")[0].id;
    admin
        .put_member(
            tenant,
            "carol",
            &tideway_api::tenants::PutMember { role: Role::Viewer },
        )
        .await
        .expect("grant");
    let carol = cp.client().login("carol", "carolpw").await.expect("carol");
    assert_eq!(
        carol.me().await.expect("me").memberships[0].role,
        Role::Viewer
    );

    // bob leaves the team-a group in the directory: his next login drops the role.
    let change = "dn: cn=team-a,ou=groups,dc=example,dc=com\nchangetype: modify\ndelete: member\nmember: uid=bob,ou=people,dc=example,dc=com\n";
    let mut child = std::process::Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &ldap.url,
            "-D",
            slapd::ADMIN_DN,
            "-w",
            slapd::ADMIN_PW,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ldapmodify");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), change.as_bytes())
        .expect("write");
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
    let bob = cp.client().login("bob", "bobpw").await.expect("bob");
    assert!(bob.me().await.expect("me").memberships.is_empty());
}

#[tokio::test]
async fn an_unreachable_directory_answers_503_and_local_admin_still_works() {
    let port = e2e::free_port();
    let url = format!("ldap://127.0.0.1:{port}");
    let flags = slapd::control_plane_flags(&url);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cp = ControlPlane::start(&flags).await.expect("control plane");
    let err = cp
        .client()
        .login("alice", "alicepw")
        .await
        .expect_err("no directory");
    assert_eq!(err.status(), Some(503), "{err}");
    cp.admin()
        .await
        .expect("the local admin does not need the directory");
}
