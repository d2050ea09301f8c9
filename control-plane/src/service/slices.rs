//! Pure rules for tenants' slices of shared clusters: which Ready shared cluster a slice may
//! live on (one that matches its security, storage backend and hardware profile) and the
//! topic prefix that keeps it apart from every other slice. No I/O; table tests below.

use tideway_api::{clusters::ClusterSpec, ClusterId};

/// A Ready shared cluster (one with brokers) as slice binding sees it.
#[derive(Clone, Debug)]
pub struct SharedCluster {
    pub id: ClusterId,
    pub name: String,
    pub spec: ClusterSpec,
}

/// What a slice must find in its shared cluster, as a phrase ("sasl-ssl, local-ssd, virtual").
fn traits(spec: &ClusterSpec) -> String {
    format!(
        "{}, {}, {}",
        spec.security.as_str(),
        spec.storage_backend.as_str(),
        spec.hardware_profile.as_str()
    )
}

/// The shared cluster a slice goes to: the first of `ready` (oldest first) with the slice's
/// security, backend and profile; otherwise a sentence saying why none will do.
pub fn choose_shared_cluster(
    slice: &ClusterSpec,
    ready: &[SharedCluster],
) -> Result<ClusterId, String> {
    let fits = |c: &&SharedCluster| {
        c.spec.security == slice.security
            && c.spec.storage_backend == slice.storage_backend
            && c.spec.hardware_profile == slice.hardware_profile
    };
    if let Some(c) = ready.iter().find(fits) {
        return Ok(c.id);
    }
    let wanted = traits(slice);
    if ready.is_empty() {
        return Err(format!(
            "No shared cluster is Ready yet; a platform admin creates one ({wanted})."
        ));
    }
    let offered: Vec<String> = ready
        .iter()
        .map(|c| format!("{} ({})", c.name, traits(&c.spec)))
        .collect();
    Err(format!(
        "No Ready shared cluster matches this slice ({wanted}); there are {}.",
        offered.join(", ")
    ))
}

/// The topic, group and user prefix of a tenant's slice: `<tenant>.<slice>.`. Tenant and
/// cluster names hold no dots, so no slice's prefix is a prefix of another's: two slices,
/// even of one tenant, never reach each other's topics, groups or users.
pub fn slice_prefix(tenant: &str, slice: &str) -> String {
    format!("{tenant}.{slice}.")
}

#[cfg(test)]
mod tests {
    use tideway_api::clusters::{ClusterSecurity, HardwareProfile, StorageBackend};

    use super::*;

    fn spec(
        security: ClusterSecurity,
        backend: StorageBackend,
        profile: HardwareProfile,
    ) -> ClusterSpec {
        ClusterSpec {
            broker_count: None,
            storage_backend: backend,
            storage_gib: 10,
            hardware_profile: profile,
            topic_defaults: None,
            auto_create_topics: false,
            security,
        }
    }

    #[test]
    fn a_slice_goes_only_to_a_shared_cluster_that_matches_it() {
        use ClusterSecurity::*;
        use HardwareProfile::*;
        use StorageBackend::*;
        let shared = |name: &str, s| SharedCluster {
            id: ClusterId::new(),
            name: name.into(),
            spec: s,
        };
        let plain = shared("old-plain", spec(Plaintext, LocalSsd, Virtual));
        let nfs = shared("nfs-1", spec(SaslSsl, Nfs, Virtual));
        let ssd = shared("ssd-1", spec(SaslSsl, LocalSsd, Virtual));
        let ssd2 = shared("ssd-2", spec(SaslSsl, LocalSsd, Virtual));
        let want = spec(SaslSsl, LocalSsd, Virtual);
        let all = [plain.clone(), nfs.clone(), ssd.clone(), ssd2];
        assert_eq!(
            choose_shared_cluster(&want, &all),
            Ok(ssd.id),
            "oldest match"
        );
        assert_eq!(
            choose_shared_cluster(&want, &[plain, nfs]),
            Err("No Ready shared cluster matches this slice (sasl-ssl, local-ssd, virtual); \
                 there are old-plain (plaintext, local-ssd, virtual), nfs-1 (sasl-ssl, nfs, virtual)."
                .into())
        );
        assert_eq!(
            choose_shared_cluster(&spec(SaslSsl, LocalSsd, Physical), &[ssd]),
            Err(
                "No Ready shared cluster matches this slice (sasl-ssl, local-ssd, physical); \
                 there are ssd-1 (sasl-ssl, local-ssd, virtual)."
                    .into()
            )
        );
        assert_eq!(
            choose_shared_cluster(&want, &[]),
            Err("No shared cluster is Ready yet; a platform admin creates one (sasl-ssl, local-ssd, virtual).".into())
        );
    }

    #[test]
    fn slice_prefixes_never_nest() {
        let prefixes = [
            slice_prefix("team-a", "orders"),
            slice_prefix("team-a", "orders-2"),
            slice_prefix("team", "a-orders"),
            slice_prefix("team-a-orders", "x"),
        ];
        assert_eq!(prefixes[0], "team-a.orders.");
        for (i, a) in prefixes.iter().enumerate() {
            for (j, b) in prefixes.iter().enumerate() {
                assert!(
                    i == j || !b.starts_with(a.as_str()),
                    "{a} is a prefix of {b}"
                );
            }
        }
    }
}
