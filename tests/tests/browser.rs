//! The portal in real headless Chromium: a team member requests a cluster (with live form
//! validation), a platform admin approves it in the queue, and the member's open cluster
//! page shows the new state without a reload.

use e2e::{
    browser::Browser,
    slapd::{self, Slapd},
    ControlPlane,
};
use fantoccini::Locator;
use tideway_api::tenants::CreateTenant;

fn screenshot_path(name: &str) -> std::path::PathBuf {
    e2e::bin_dir().join(format!("e2e-{name}.png"))
}

#[tokio::test]
async fn request_then_approve_in_the_browser() {
    let ldap = Slapd::start().await.expect("slapd");
    let flags = slapd::control_plane_flags(&ldap.url);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cp = ControlPlane::start(&flags).await.expect("control plane");
    cp.admin()
        .await
        .expect("admin")
        .create_tenant(&CreateTenant {
            name: "team-a".into(),
            display_name: Some("Team A".into()),
            auto_approve: false,
            quota: None,
        })
        .await
        .expect("tenant");

    // Bob (directory user, member of team-a) requests a cluster.
    let bob = Browser::start().await.expect("browser");
    bob.login(&cp.url, "bob", "bobpw").await.expect("login");
    assert!(bob
        .text("main")
        .await
        .expect("dashboard")
        .contains("Team A"));

    bob.goto(&format!("{}/clusters/new", cp.url))
        .await
        .expect("form");
    bob.fill("name", "Bad Name").await.expect("type");
    bob.fill("broker_count", "40").await.expect("type");
    // htmx validates while typing, without submitting.
    let errors = bob
        .wait_text("#form-errors", "must be between 1 and 12", 10)
        .await
        .expect("inline validation");
    assert!(errors.contains("Name:"), "{errors}");
    assert!(errors.contains("must be between 1 and 12"), "{errors}");
    assert_eq!(
        bob.client.current_url().await.expect("url").path(),
        "/clusters/new"
    );

    // A bad submit keeps what was typed and says what is wrong.
    bob.click("#request-submit").await.expect("submit");
    bob.wait_text("#form-errors", "Name:", 10)
        .await
        .expect("server-side errors");
    let kept = bob
        .client
        .find(Locator::Id("name"))
        .await
        .expect("name")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("Bad Name"));

    bob.fill("name", "orders").await.expect("type");
    bob.fill("broker_count", "3").await.expect("type");
    bob.click("#request-submit").await.expect("submit");
    bob.wait_text("#phase", "PendingApproval", 10)
        .await
        .expect("cluster page");
    let cluster_url = bob.client.current_url().await.expect("url");
    assert!(cluster_url.path().starts_with("/clusters/"));
    // Left at its default, the security choice is SASL_SSL, and the page says so.
    bob.wait_text("main", "SASL_SSL: TLS, SCRAM users, ACLs", 10)
        .await
        .expect("secured by default");
    assert!(
        bob.client.find(Locator::Id("approve")).await.is_err(),
        "members see no approve button"
    );

    // Alice (platform admin through her directory group) approves it from the queue.
    let alice = Browser::start().await.expect("browser");
    alice
        .login(&cp.url, "alice", "alicepw")
        .await
        .expect("login");
    alice
        .goto(&format!("{}/admin/approvals", cp.url))
        .await
        .expect("queue");
    let row = alice
        .text("#request-orders")
        .await
        .expect("the request is queued");
    assert!(
        row.contains("team-a") && row.contains("3 × 100 GiB"),
        "{row}"
    );
    alice
        .click("#request-orders button.approve")
        .await
        .expect("approve");
    alice
        .wait_text("#approvals", "Nothing waits for approval", 10)
        .await
        .expect("queue emptied");

    // Bob's page, still open, refreshes its status area by itself.
    bob.wait_text("#approval-state", "approved", 15)
        .await
        .expect("live status");
    bob.wait_text("#phase", "Provisioning", 5)
        .await
        .expect("phase");
    let status = bob.text("#status").await.expect("status");
    assert!(status.contains("user:alice"), "{status}");
    bob.screenshot(&screenshot_path("cluster-approved"))
        .await
        .expect("screenshot");

    // The audit page records both steps.
    alice
        .goto(&format!("{}/audit?action=cluster.approve", cp.url))
        .await
        .expect("audit");
    let audit = alice.text("#audit").await.expect("audit table");
    assert!(
        audit.contains("user:alice") && audit.contains("cluster.approve"),
        "{audit}"
    );

    // Logging out ends the session: the portal sends bob back to the login page.
    bob.click("header.top form button").await.expect("logout");
    bob.wait_text("h1", "Log in to Tideway", 10)
        .await
        .expect("logged out");
    bob.goto(&format!("{}/clusters", cp.url))
        .await
        .expect("clusters");
    assert_eq!(
        bob.client.current_url().await.expect("url").path(),
        "/login"
    );
}

#[tokio::test]
async fn a_forged_form_post_is_refused() {
    let cp = ControlPlane::start(&[]).await.expect("control plane");
    let browser = Browser::start().await.expect("browser");
    browser
        .login(&cp.url, "admin", e2e::ADMIN_PASSWORD)
        .await
        .expect("login");
    // A page posts a form to the portal without the CSRF token, carrying the cookie.
    let script = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '{}/admin/tenants';
         const i = document.createElement('input'); i.name = 'name'; i.value = 'forged'; f.appendChild(i);
         document.body.appendChild(f); f.submit();",
        cp.url
    );
    browser
        .client
        .execute(&script, vec![])
        .await
        .expect("script");
    let detail = browser
        .wait_text("#error-detail", "stale", 10)
        .await
        .expect("refused");
    assert!(detail.contains("not sent by this site"), "{detail}");
    let tenants = cp
        .admin()
        .await
        .expect("admin")
        .list_tenants()
        .await
        .expect("tenants");
    assert!(tenants.is_empty(), "the forged post created nothing");
}

#[tokio::test]
async fn an_admin_issues_an_agent_token_and_sees_its_host_online() {
    let cp = ControlPlane::start(&[
        "--host-offline-after",
        "2s",
        "--heartbeat-interval",
        "500ms",
    ])
    .await
    .expect("control plane");
    let browser = Browser::start().await.expect("browser");
    browser
        .login(&cp.url, "admin", e2e::ADMIN_PASSWORD)
        .await
        .expect("login");
    browser
        .goto(&format!("{}/admin/hosts", cp.url))
        .await
        .expect("hosts");
    assert!(browser
        .text("#hosts")
        .await
        .expect("table")
        .contains("No host has registered yet"));
    browser
        .fill("agent-token-name", "rack-1")
        .await
        .expect("type");
    browser.click("#issue-agent-token").await.expect("issue");
    browser
        .wait_text("#new-agent-token", "not shown again", 10)
        .await
        .expect("secret shown once");
    let secret = browser
        .text("#new-agent-token .secret")
        .await
        .expect("secret");

    let root = tempfile::tempdir().expect("root");
    let _agent = e2e::start_agent(&cp.url, secret.trim(), "host-ui", root.path()).expect("agent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        browser
            .goto(&format!("{}/admin/hosts", cp.url))
            .await
            .expect("hosts");
        if browser
            .text("#host-host-ui")
            .await
            .is_ok_and(|t| t.contains("online"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "host-ui never showed online"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let tokens = browser.text("#agent-tokens").await.expect("tokens");
    assert!(
        tokens.contains("rack-1") && tokens.contains("active") && !tokens.contains(secret.trim())
    );
}
