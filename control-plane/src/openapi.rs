//! The OpenAPI 3.1 document, generated from the handlers; `control-plane openapi` writes it
//! to `openapi/openapi.json`, and a test fails when the committed file differs.

use std::path::Path;

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

/// Top-level facts of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tideway control plane", description = "Self-service Kafka-compatible clusters: tenants, quotas, cluster requests and approvals."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and identity"),
        (name = "tenants", description = "Tenants, members and quotas"),
        (name = "clusters", description = "Cluster requests, clusters and approvals"),
        (name = "tokens", description = "API tokens for automation"),
        (name = "topics", description = "Topics on a tenant's cluster"),
        (name = "kafka-users", description = "SCRAM users of a secured cluster, with ACLs on what the tenant owns"),
        (name = "monitoring", description = "Consumer lag verdicts, metric series, alerts and alert rules"),
        (name = "admin", description = "Hosts and the audit log"),
        (name = "agents", description = "Agent tokens"),
        (name = "agent protocol", description = "What broker agents call (with an agent token)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON with a trailing newline.
pub fn document_json() -> String {
    let (_, doc) = crate::http::api::router().split_for_parts();
    let mut json = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// Writes the document to `out` (`-` for stdout).
pub fn write(out: &Path) -> anyhow::Result<()> {
    let json = document_json();
    if out == Path::new("-") {
        print!("{json}");
    } else {
        std::fs::write(out, json)
            .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", out.display()))?;
    }
    Ok(())
}
