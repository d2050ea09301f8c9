//! Brokers placed on hosts (desired) and their reported health (observed).

use std::collections::{BTreeSet, HashMap};

use sqlx::{types::Json, FromRow, PgConnection, PgPool};
use tideway_api::{
    agents::{
        BrokerAssignment, BrokerObserved, ClusterPeers, PortRange, SliceStorageBudget,
        StorageCapacity, Voter,
    },
    clusters::{ClusterBroker, HardwareProfile, StorageBackend},
    BrokerId, ClusterId, HostId,
};

use crate::service::{
    cluster_rules::GIB,
    placement::{Candidate, Spot},
};

#[derive(FromRow)]
struct HostRow {
    id: HostId,
    name: String,
    online: bool,
    hardware_profile: HardwareProfile,
    storage: Json<Vec<StorageCapacity>>,
    port_first: Option<i32>,
    port_last: Option<i32>,
}

/// Every host with what its brokers already take (ports and bytes).
pub async fn candidates(
    conn: &mut PgConnection,
    offline_after_secs: i64,
) -> sqlx::Result<Vec<Candidate>> {
    let hosts: Vec<HostRow> = sqlx::query_as(
        "SELECT id, name, coalesce(last_seen_at > now() - make_interval(secs => $1), false) AS online,
                hardware_profile, storage, port_first, port_last
         FROM hosts ORDER BY name",
    )
    .bind(offline_after_secs as f64)
    .fetch_all(&mut *conn)
    .await?;
    /// Host, port, backend, bytes, controller port, replication port of every broker.
    type Taken = (HostId, i32, StorageBackend, i64, Option<i32>, Option<i32>);
    let taken: Vec<Taken> = sqlx::query_as(
        "SELECT host_id, port, storage_backend, storage_bytes, controller_port, replication_port
         FROM brokers",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(hosts
        .into_iter()
        .map(|h| {
            let mine = taken.iter().filter(|t| t.0 == h.id);
            Candidate {
                id: h.id,
                name: h.name,
                online: h.online,
                profile: h.hardware_profile,
                storage: h.storage.0,
                port_range: match (h.port_first, h.port_last) {
                    (Some(a), Some(b)) => Some(PortRange {
                        first: a as u16,
                        last: b as u16,
                    }),
                    _ => None,
                },
                used_ports: mine
                    .clone()
                    .flat_map(|t| std::iter::once(t.1).chain(t.4).chain(t.5))
                    .map(|p| p as u16)
                    .collect::<BTreeSet<u16>>(),
                claimed: mine.map(|t| (t.2, t.3 as u64)).collect(),
            }
        })
        .collect())
}

/// Records a broker on a host and bumps the host's desired generation.
pub async fn insert(
    conn: &mut PgConnection,
    cluster: ClusterId,
    node_id: i32,
    spot: &Spot,
    backend: StorageBackend,
    bytes: i64,
) -> sqlx::Result<()> {
    let host = spot.host;
    sqlx::query(
        "INSERT INTO brokers (id, cluster_id, host_id, node_id, port, storage_backend, storage_bytes,
                              controller_port, replication_port)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(BrokerId::new())
    .bind(cluster)
    .bind(host)
    .bind(node_id)
    .bind(i32::from(spot.port))
    .bind(backend)
    .bind(bytes)
    .bind(spot.controller_port.map(i32::from))
    .bind(spot.replication_port.map(i32::from))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE hosts SET generation = generation + 1 WHERE id = $1")
        .bind(host)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether every host running a broker of `cluster` has applied its latest desired state
/// (false when the cluster has no brokers).
pub async fn hosts_caught_up(conn: &mut PgConnection, cluster: ClusterId) -> sqlx::Result<bool> {
    let caught_up: Option<bool> = sqlx::query_scalar(
        "SELECT bool_and(h.observed_generation IS NOT NULL AND h.observed_generation >= h.generation)
         FROM hosts h JOIN brokers b ON b.host_id = h.id WHERE b.cluster_id = $1",
    )
    .bind(cluster)
    .fetch_one(conn)
    .await?;
    Ok(caught_up.unwrap_or(false))
}

/// Bumps the generation of every host running a broker of `cluster` (before the brokers go).
pub async fn bump_hosts_of(conn: &mut PgConnection, cluster: ClusterId) -> sqlx::Result<()> {
    sqlx::query("UPDATE hosts SET generation = generation + 1 WHERE id IN (SELECT host_id FROM brokers WHERE cluster_id = $1)")
        .bind(cluster)
        .execute(conn)
        .await?;
    Ok(())
}

/// The brokers a host should run; brokers of multi-broker clusters with their peers.
pub async fn for_host(db: &PgPool, host: HostId) -> sqlx::Result<Vec<BrokerAssignment>> {
    type Row = (
        BrokerId,
        ClusterId,
        i32,
        i32,
        StorageBackend,
        i64,
        bool,
        Option<i32>,
        String,
        Option<i32>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT b.id, b.cluster_id, b.node_id, b.port, b.storage_backend, b.storage_bytes,
                coalesce((c.spec->>'auto_create_topics')::boolean, false), b.controller_port,
                coalesce(h.labels->>'rack', h.name), b.replication_port
         FROM brokers b JOIN clusters c ON c.id = b.cluster_id JOIN hosts h ON h.id = b.host_id
         WHERE b.host_id = $1 ORDER BY b.port",
    )
    .bind(host)
    .fetch_all(db)
    .await?;
    let clustered: Vec<uuid::Uuid> = rows
        .iter()
        .filter(|r| r.7.is_some())
        .map(|r| r.1 .0)
        .collect();
    let voters: Vec<(ClusterId, i32, String, i32)> = sqlx::query_as(
        "SELECT b.cluster_id, b.node_id, h.address, b.controller_port
         FROM brokers b JOIN hosts h ON h.id = b.host_id
         WHERE b.cluster_id = ANY($1) AND b.controller_port IS NOT NULL ORDER BY b.node_id",
    )
    .bind(&clustered)
    .fetch_all(db)
    .await?;
    // Slices bound to the shared clusters among them, with their storage per broker.
    let clusters: Vec<uuid::Uuid> = rows.iter().map(|r| r.1 .0).collect();
    let budgets: Vec<(ClusterId, String, i64)> = sqlx::query_as(
        "SELECT shared_host_id, topic_prefix, (spec->>'storage_gib')::bigint
         FROM clusters WHERE shared_host_id = ANY($1) AND topic_prefix IS NOT NULL
         ORDER BY topic_prefix",
    )
    .bind(&clusters)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                broker_id,
                cluster_id,
                node_id,
                port,
                storage_backend,
                bytes,
                auto_create_topics,
                controller_port,
                rack,
                replication_port,
            )| {
                let cluster = controller_port.map(|cp| ClusterPeers {
                    controller_port: cp as u16,
                    replication_port: replication_port.map(|p| p as u16),
                    rack,
                    voters: voters
                        .iter()
                        .filter(|v| v.0 == cluster_id)
                        .map(|v| Voter {
                            node_id: v.1,
                            address: v.2.clone(),
                            controller_port: v.3 as u16,
                        })
                        .collect(),
                });
                BrokerAssignment {
                    broker_id,
                    cluster_id,
                    node_id,
                    port: port as u16,
                    storage_backend,
                    storage_bytes: bytes as u64,
                    auto_create_topics,
                    cluster,
                    security: None,
                    storage_budgets: budgets
                        .iter()
                        .filter(|b| b.0 == cluster_id)
                        .map(|(_, prefix, gib)| SliceStorageBudget {
                            slice: prefix.trim_end_matches('.').to_owned(),
                            topic_prefix: prefix.clone(),
                            max_bytes: ((*gib).max(0) * GIB) as u64,
                        })
                        .collect(),
                }
            },
        )
        .collect())
}

/// Stores what an agent reports of its brokers (ignoring brokers not on that host).
pub async fn record_status(
    db: &PgPool,
    host: HostId,
    observed: &[BrokerObserved],
) -> sqlx::Result<()> {
    for o in observed {
        sqlx::query(
            "INSERT INTO broker_status (broker_id, running, answering, detail, reported_at,
                                        disk_used_bytes, bytes_in, bytes_out, metrics_port)
             SELECT id, $3, $4, $5, now(), $6, $7, $8, $9 FROM brokers WHERE id = $1 AND host_id = $2
             ON CONFLICT (broker_id) DO UPDATE SET running = EXCLUDED.running, answering = EXCLUDED.answering,
                detail = EXCLUDED.detail, reported_at = now(), disk_used_bytes = EXCLUDED.disk_used_bytes,
                bytes_in = EXCLUDED.bytes_in, bytes_out = EXCLUDED.bytes_out,
                metrics_port = EXCLUDED.metrics_port",
        )
        .bind(o.broker_id)
        .bind(host)
        .bind(o.running)
        .bind(o.answering)
        .bind(&o.detail)
        .bind(o.disk_used_bytes.map(|b| b as i64))
        .bind(o.bytes_in.map(|b| b as i64))
        .bind(o.bytes_out.map(|b| b as i64))
        .bind(o.metrics_port.map(i32::from))
        .execute(db)
        .await?;
    }
    Ok(())
}

#[derive(FromRow)]
struct BrokerView {
    cluster_id: ClusterId,
    node_id: i32,
    host: String,
    address: String,
    port: i32,
    healthy: bool,
    detail: Option<String>,
    disk_used_bytes: Option<i64>,
    bytes_in: Option<i64>,
    bytes_out: Option<i64>,
}

/// The brokers of each cluster with their health (fresh reports of running and answering).
pub async fn of_clusters(
    db: &PgPool,
    ids: &[ClusterId],
    fresh_secs: i64,
) -> sqlx::Result<HashMap<ClusterId, Vec<ClusterBroker>>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|c| c.0).collect();
    let rows: Vec<BrokerView> = sqlx::query_as(
        "SELECT b.cluster_id, b.node_id, h.name AS host, h.address, b.port,
                coalesce(s.running AND s.answering AND s.reported_at > now() - make_interval(secs => $2), false) AS healthy,
                CASE WHEN s.reported_at <= now() - make_interval(secs => $2)
                     THEN 'no report from the agent on ' || h.name || ' for over ' || $2::int || ' s; state unknown'
                     ELSE s.detail END AS detail,
                s.disk_used_bytes, s.bytes_in, s.bytes_out
         FROM brokers b JOIN hosts h ON h.id = b.host_id LEFT JOIN broker_status s ON s.broker_id = b.id
         WHERE b.cluster_id = ANY($1) ORDER BY b.node_id",
    )
    .bind(&ids)
    .bind(fresh_secs as f64)
    .fetch_all(db)
    .await?;
    let mut out: HashMap<ClusterId, Vec<ClusterBroker>> = HashMap::new();
    for r in rows {
        out.entry(r.cluster_id).or_default().push(ClusterBroker {
            node_id: r.node_id,
            host: r.host,
            address: r.address,
            port: r.port as u16,
            healthy: r.healthy,
            detail: r.detail.unwrap_or_else(|| "not reported yet".into()),
            disk_used_bytes: r.disk_used_bytes.map(|b| b as u64),
            bytes_in: r.bytes_in.map(|b| b as u64),
            bytes_out: r.bytes_out.map(|b| b as u64),
        });
    }
    Ok(out)
}

/// Approved clusters the reconciler looks after: (id, has brokers).
pub async fn approved_clusters(db: &PgPool) -> sqlx::Result<Vec<(ClusterId, bool)>> {
    sqlx::query_as(
        "SELECT c.id, EXISTS (SELECT 1 FROM brokers b WHERE b.cluster_id = c.id)
         FROM clusters c WHERE c.approval_state = 'approved' ORDER BY c.created_at",
    )
    .fetch_all(db)
    .await
}

/// A broker serving metrics: (cluster name, cluster id, tenant name, host name, host
/// address, node id, metrics port).
pub type MetricsEndpoint = (String, ClusterId, String, String, String, i32, i32);

/// Brokers whose agent reported a metrics port within `fresh_secs`.
pub async fn metrics_endpoints(db: &PgPool, fresh_secs: i64) -> sqlx::Result<Vec<MetricsEndpoint>> {
    sqlx::query_as(
        "SELECT c.name, c.id, t.name, h.name, h.address, b.node_id, s.metrics_port
         FROM brokers b JOIN broker_status s ON s.broker_id = b.id
         JOIN hosts h ON h.id = b.host_id JOIN clusters c ON c.id = b.cluster_id
         JOIN tenants t ON t.id = c.tenant_id
         WHERE s.metrics_port IS NOT NULL AND s.reported_at > now() - make_interval(secs => $1)
         ORDER BY c.name, b.node_id",
    )
    .bind(fresh_secs as f64)
    .fetch_all(db)
    .await
}
