//! Pure placement: which hosts and ports a cluster's brokers go to. Hosts must be online,
//! of the requested hardware profile, serve the storage backend with enough free space
//! (net of what other brokers there already claim) and have a free port; brokers of one
//! cluster spread over distinct hosts, emptiest first.

use std::collections::BTreeSet;

use tideway_api::{
    agents::{PortRange, StorageCapacity},
    clusters::{HardwareProfile, StorageBackend},
    HostId,
};

/// A host as placement sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: HostId,
    pub name: String,
    pub online: bool,
    pub profile: HardwareProfile,
    pub storage: Vec<StorageCapacity>,
    pub port_range: Option<PortRange>,
    /// Ports brokers already use on the host.
    pub used_ports: BTreeSet<u16>,
    /// Bytes already promised to brokers on the host, per backend.
    pub claimed: Vec<(StorageBackend, u64)>,
}

/// What to place.
#[derive(Clone, Copy, Debug)]
pub struct Demand {
    pub brokers: usize,
    pub profile: HardwareProfile,
    pub backend: StorageBackend,
    pub bytes_per_broker: u64,
}

impl Demand {
    /// Brokers of a multi-broker cluster run the engine's cluster mode and need a
    /// controller port and a replication port besides their Kafka port: brokers talk to
    /// each other over mutual TLS on those, whatever their clients use.
    fn ports_per_broker(&self) -> usize {
        if self.brokers > 1 {
            3
        } else {
            1
        }
    }
}

/// Where one broker goes: its host, Kafka port and (cluster mode) controller and
/// replication ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spot {
    pub host: HostId,
    pub port: u16,
    pub controller_port: Option<u16>,
    pub replication_port: Option<u16>,
}

impl Candidate {
    fn free_bytes(&self, backend: StorageBackend) -> Option<u64> {
        let s = self.storage.iter().find(|s| s.backend == backend)?;
        let claimed: u64 = self
            .claimed
            .iter()
            .filter(|(b, _)| *b == backend)
            .map(|(_, n)| n)
            .sum();
        Some(s.free_bytes.saturating_sub(claimed))
    }

    /// The first `n` free ports of the host's range.
    fn free_ports(&self, n: usize) -> Option<Vec<u16>> {
        let r = self.port_range?;
        let ports: Vec<u16> = (r.first..=r.last)
            .filter(|p| !self.used_ports.contains(p))
            .take(n)
            .collect();
        (ports.len() == n).then_some(ports)
    }
}

/// Hosts and ports for each broker, or a sentence saying why it cannot be placed.
pub fn place(d: Demand, hosts: &[Candidate]) -> Result<Vec<Spot>, String> {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let mut fit: Vec<&Candidate> = hosts
        .iter()
        .filter(|h| h.online && h.profile == d.profile)
        .filter(|h| {
            h.free_bytes(d.backend)
                .is_some_and(|f| f >= d.bytes_per_broker)
        })
        .filter(|h| h.free_ports(d.ports_per_broker()).is_some())
        .collect();
    if fit.is_empty() {
        let online = hosts.iter().filter(|h| h.online).count();
        return Err(format!(
            "no online host of profile {} serves {} with {:.0} GiB free and {} free port(s) ({} of {} hosts online)",
            d.profile,
            d.backend,
            gib(d.bytes_per_broker),
            d.ports_per_broker(),
            online,
            hosts.len()
        ));
    }
    fit.sort_by(|a, b| {
        b.free_bytes(d.backend)
            .cmp(&a.free_bytes(d.backend))
            .then(a.name.cmp(&b.name))
    });
    if fit.len() < d.brokers {
        return Err(format!(
            "{} brokers need {} distinct hosts that fit, only {} do ({})",
            d.brokers,
            d.brokers,
            fit.len(),
            fit.iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(fit
        .into_iter()
        .take(d.brokers)
        .map(|h| {
            let ports = h.free_ports(d.ports_per_broker()).unwrap_or_default();
            Spot {
                host: h.id,
                port: ports.first().copied().unwrap_or_default(),
                controller_port: ports.get(1).copied(),
                replication_port: ports.get(2).copied(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn host(
        name: &str,
        online: bool,
        profile: HardwareProfile,
        free_gib: u64,
        used: &[u16],
    ) -> Candidate {
        Candidate {
            id: HostId::new(),
            name: name.into(),
            online,
            profile,
            storage: vec![StorageCapacity {
                backend: StorageBackend::LocalSsd,
                total_bytes: 1000 * GIB,
                free_bytes: free_gib * GIB,
            }],
            port_range: Some(PortRange {
                first: 9000,
                last: 9001,
            }),
            used_ports: used.iter().copied().collect(),
            claimed: Vec::new(),
        }
    }

    fn demand(brokers: usize, gib: u64) -> Demand {
        Demand {
            brokers,
            profile: HardwareProfile::Virtual,
            backend: StorageBackend::LocalSsd,
            bytes_per_broker: gib * GIB,
        }
    }

    #[test]
    fn brokers_spread_over_fitting_hosts_emptiest_first() {
        let v = HardwareProfile::Virtual;
        let hosts = vec![
            host("a", true, v, 100, &[]),
            host("b", true, v, 500, &[9000]),
            host("c", false, v, 900, &[]),
            host("d", true, HardwareProfile::Physical, 900, &[]),
            host("e", true, v, 10, &[]),
            host("f", true, v, 300, &[9000, 9001]),
        ];
        let placed = place(demand(1, 50), &hosts).expect("fits");
        let spot = |h: &Candidate, port, controller_port, replication_port| Spot {
            host: h.id,
            port,
            controller_port,
            replication_port,
        };
        assert_eq!(placed, vec![spot(&hosts[1], 9001, None, None)]);
        // Cluster mode needs three free ports per broker: host b has one left.
        let placed = place(demand(2, 50), &hosts);
        assert!(placed.is_err(), "{placed:?}");
        let mut roomy = hosts.clone();
        for h in &mut roomy {
            h.port_range = Some(PortRange {
                first: 9000,
                last: 9002,
            });
        }
        roomy[1].used_ports.clear();
        let placed = place(demand(2, 50), &roomy).expect("fits");
        assert_eq!(
            placed,
            vec![
                spot(&roomy[1], 9000, Some(9001), Some(9002)),
                spot(&roomy[0], 9000, Some(9001), Some(9002))
            ]
        );

        let err = place(demand(3, 50), &roomy).expect_err("only two hosts fit");
        assert!(err.contains("only 2 do (b, a)"), "{err}");
        let err = place(demand(1, 600), &hosts).expect_err("too big");
        assert!(
            err.contains("600 GiB free") && err.contains("5 of 6 hosts online"),
            "{err}"
        );
    }

    #[test]
    fn brokers_of_several_get_a_replication_port() {
        let mut h = host("a", true, HardwareProfile::Virtual, 100, &[]);
        h.port_range = Some(PortRange {
            first: 9000,
            last: 9002,
        });
        let secured = demand(1, 10);
        assert_eq!(
            place(secured, &[h.clone()]).expect("one broker")[0].replication_port,
            None
        );
        let mut other = h.clone();
        other.id = HostId::new();
        other.name = "b".into();
        let spots = place(
            Demand {
                brokers: 2,
                ..secured
            },
            &[h.clone(), other],
        )
        .expect("two");
        assert!(spots
            .iter()
            .all(|s| (s.port, s.controller_port, s.replication_port)
                == (9000, Some(9001), Some(9002))));
        h.used_ports.insert(9002);
        assert!(place(
            Demand {
                brokers: 1,
                ..secured
            },
            &[h]
        )
        .is_ok());
    }

    #[test]
    fn claimed_space_counts_against_free_space() {
        let mut h = host("a", true, HardwareProfile::Virtual, 100, &[]);
        h.claimed.push((StorageBackend::LocalSsd, 80 * GIB));
        assert!(place(demand(1, 50), &[h.clone()]).is_err());
        assert!(place(demand(1, 20), &[h]).is_ok());
    }
}
