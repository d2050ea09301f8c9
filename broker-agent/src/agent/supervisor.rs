//! Supervises one `broker-agent broker` process per assigned broker: prepares its volume,
//! writes its config atomically, starts it, restarts it with exponential backoff when it
//! exits, restarts it when its config changes (the old process gone before the new one
//! starts), stops it and releases its volume when it is no longer assigned. Brokers run as
//! their own processes (pid files beside their configs), so they keep serving when the
//! agent restarts, and are adopted again — only when the pid still names the same broker
//! (see `broker_process`).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tideway_api::{
    agents::{BrokerAssignment, BrokerObserved},
    BrokerId,
};
use tideway_engine::{fsutil::write_atomic, storage_budget::PrefixBudget};

use super::{
    broker_process::BrokerPid,
    broker_security, probe,
    volumes::{self, Storage},
};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a removed broker may take to stop (it hands its leaderships over first)
/// before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A removed broker on its way out; its volume is released once it has exited.
struct Stopping {
    assignment: BrokerAssignment,
    pid: BrokerPid,
    kill_at: Instant,
}

struct Managed {
    assignment: BrokerAssignment,
    /// Where its data lives.
    volume: PathBuf,
    /// The running process, if any.
    pid: Option<BrokerPid>,
    /// The process of the previous config, asked to stop, and when it gets killed: the
    /// new one starts only once it has exited.
    replacing: Option<(BrokerPid, Instant)>,
    restarts: u32,
    next_start: Instant,
    last_error: String,
}

pub struct Supervisor {
    exe: PathBuf,
    /// Configs, pid files and logs: `<data-root>/brokers/<broker-id>/`.
    state_dir: PathBuf,
    storage: Vec<Storage>,
    address: String,
    brokers: HashMap<BrokerId, Managed>,
    /// Assigned brokers whose volume or config could not be prepared yet, with why; the
    /// reason is reported, and a half-prepared volume is released if the broker goes.
    unprepared: HashMap<BrokerId, (BrokerAssignment, String)>,
    /// Removed brokers still stopping: the agent does not wait for them.
    stopping: Vec<Stopping>,
}

/// The slices' storage budgets beside `broker.toml`; the broker rereads the file when it
/// changes, so slices come and go without a restart.
const BUDGETS_FILE: &str = "storage-budgets.json";

/// The bytes of log a broker may hold on a volume of `volume_bytes`: the rest is headroom
/// for indexes, snapshots and metadata, so the volume never fills up under the broker.
pub fn log_budget(volume_bytes: u64) -> u64 {
    volume_bytes / 100 * 95
}

/// Writes the slices' budgets of a shared cluster's broker when they changed.
fn write_budgets(dir: &Path, a: &BrokerAssignment) -> Result<(), String> {
    let budgets: Vec<PrefixBudget> = a
        .storage_budgets
        .iter()
        .map(|b| PrefixBudget {
            name: format!("slice {}", b.slice),
            prefix: b.topic_prefix.clone(),
            max_bytes: b.max_bytes,
        })
        .collect();
    let json = serde_json::to_vec_pretty(&budgets).map_err(|e| e.to_string())?;
    let path = dir.join(BUDGETS_FILE);
    if std::fs::read(&path).ok().as_deref() != Some(json.as_slice()) {
        write_atomic(&path, &json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

impl Supervisor {
    pub fn new(
        data_root: &Path,
        storage: Vec<Storage>,
        address: String,
    ) -> std::io::Result<Supervisor> {
        let exe = std::env::current_exe()?;
        let state_dir = data_root.join("brokers");
        std::fs::create_dir_all(&state_dir)?;
        Ok(Supervisor {
            exe,
            state_dir,
            storage,
            address,
            brokers: HashMap::new(),
            unprepared: HashMap::new(),
            stopping: Vec::new(),
        })
    }

    fn dir(&self, id: BrokerId) -> PathBuf {
        self.state_dir.join(id.to_string())
    }

    fn storage_for(&self, a: &BrokerAssignment) -> Result<&Storage, String> {
        self.storage
            .iter()
            .find(|s| s.backend() == a.storage_backend)
            .ok_or_else(|| format!("this host does not serve {}", a.storage_backend))
    }

    fn volume(&self, a: &BrokerAssignment) -> Result<PathBuf, String> {
        self.storage_for(a)?.prepare(a.broker_id, a.storage_bytes)
    }

    fn config(&self, a: &BrokerAssignment, volume: &Path) -> String {
        let dir = self.dir(a.broker_id);
        let mut text = a
            .security
            .as_ref()
            .map(|_| broker_security::protocol_line(a).to_owned())
            .unwrap_or_default();
        text += &format!(
            "data-dir = {:?}\nmetrics-listen = \"0.0.0.0:0\"\nlisten = \"0.0.0.0:{port}\"\nadvertised = \"{}:{port}\"\nnode-id = {}\ncluster-id = \"{}\"\nauto-create-topics = {}\n",
            volume.display().to_string(),
            self.address,
            a.node_id,
            a.cluster_id.0.simple(),
            a.auto_create_topics,
            port = broker_security::main_port(a),
        );
        if let Some(peers) = &a.cluster {
            let voters: Vec<String> = peers
                .voters
                .iter()
                .map(|v| format!("\"{}@{}:{}\"", v.node_id, v.address, v.controller_port))
                .collect();
            text.push_str(&format!(
                "[cluster]\nvoters = [{}]\ncontroller-listen = \"0.0.0.0:{}\"\nrack = {:?}\n",
                voters.join(", "),
                peers.controller_port,
                peers.rack,
            ));
        }
        if let Some(security) = &a.security {
            text.push_str(&broker_security::tables(&dir, a, security, &self.address));
        }
        text.push_str(&format!(
            "[storage]\nmax-bytes = {}\nbudgets-file = {:?}\n",
            log_budget(a.storage_bytes),
            dir.join(BUDGETS_FILE).display().to_string(),
        ));
        text
    }

    /// Brings the running brokers to `desired`.
    pub fn apply(&mut self, desired: &[BrokerAssignment]) -> Result<(), String> {
        let wanted: HashMap<BrokerId, &BrokerAssignment> =
            desired.iter().map(|a| (a.broker_id, a)).collect();
        let gone: Vec<BrokerId> = self
            .brokers
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            self.remove(id);
        }
        let abandoned: Vec<BrokerId> = self
            .unprepared
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in abandoned {
            if let Some((a, _)) = self.unprepared.remove(&id) {
                self.release(&a);
            }
        }
        let mut errors = Vec::new();
        for a in desired {
            match self.ensure(a) {
                Ok(()) => {
                    self.unprepared.remove(&a.broker_id);
                }
                Err(e) => {
                    errors.push(format!("broker {}: {e}", a.broker_id));
                    if !self.brokers.contains_key(&a.broker_id) {
                        self.unprepared.insert(a.broker_id, (a.clone(), e));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn ensure(&mut self, a: &BrokerAssignment) -> Result<(), String> {
        let volume = self.volume(a)?;
        let dir = self.dir(a.broker_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if let Some(security) = &a.security {
            broker_security::write_files(&dir, security)?;
        }
        write_budgets(&dir, a)?;
        let config_path = dir.join("broker.toml");
        let config = self.config(a, &volume);
        let changed =
            std::fs::read_to_string(&config_path).ok().as_deref() != Some(config.as_str());
        if changed {
            write_atomic(&config_path, config.as_bytes())
                .map_err(|e| format!("cannot write the config: {e}"))?;
        }
        let adopted = std::fs::read_to_string(dir.join("broker.pid"))
            .ok()
            .and_then(|text| BrokerPid::from_file(&text, &self.exe, &config_path));
        let entry = self.brokers.entry(a.broker_id).or_insert_with(|| Managed {
            assignment: a.clone(),
            volume: volume.clone(),
            pid: adopted,
            replacing: None,
            restarts: 0,
            next_start: Instant::now(),
            last_error: String::new(),
        });
        entry.assignment = a.clone();
        entry.volume = volume;
        if changed {
            if let Some(old) = entry.pid.take() {
                tracing::info!(broker = %a.broker_id, "config changed: restarting the broker");
                old.signal("-TERM");
                entry.replacing = Some((old, Instant::now() + STOP_GRACE));
            }
        }
        Ok(())
    }

    /// Starts brokers that are due to (re)start; call often.
    pub fn tick(&mut self) {
        self.reap_stopped();
        let now = Instant::now();
        let ids: Vec<BrokerId> = self.brokers.keys().copied().collect();
        for id in ids {
            let busy = self
                .brokers
                .get(&id)
                .is_some_and(|m| m.pid.is_none() && self.ports_busy(&m.assignment));
            let dir = self.dir(id);
            let exe = self.exe.clone();
            let Some(m) = self.brokers.get_mut(&id) else {
                continue;
            };
            if let Some((old, kill_at)) = m.replacing {
                if old.alive() {
                    if now >= kill_at {
                        tracing::warn!(broker = %id, "the old broker did not stop in time: killing it");
                        old.signal("-KILL");
                    }
                    continue;
                }
                m.replacing = None;
            }
            if let Some(pid) = m.pid {
                if pid.alive() {
                    continue;
                }
                m.pid = None;
                m.restarts += 1;
                let backoff = Duration::from_secs(1 << m.restarts.min(5)).min(MAX_BACKOFF);
                m.next_start = now + backoff;
                m.last_error = format!("the broker exited; restart {} in {backoff:?}", m.restarts);
                tracing::warn!(broker = %id, restarts = m.restarts, "broker exited");
            }
            if now < m.next_start || busy {
                continue;
            }
            match start(&exe, &dir) {
                Ok(pid) => {
                    m.pid = Some(pid);
                    m.next_start = now;
                }
                Err(e) => {
                    m.last_error = e;
                    m.next_start = now + MAX_BACKOFF;
                }
            }
        }
    }

    /// Stops a broker that is no longer assigned without waiting for it: SIGTERM now
    /// (a controlled shutdown), the volume released by [`tick`](Self::tick) once it has
    /// exited, SIGKILL after [`STOP_GRACE`].
    fn remove(&mut self, id: BrokerId) {
        let Some(m) = self.brokers.remove(&id) else {
            return;
        };
        // A broker still being replaced is the one to wait for if no new one started.
        match m.pid.or(m.replacing.map(|r| r.0)).filter(BrokerPid::alive) {
            Some(pid) => {
                pid.signal("-TERM");
                self.stopping.push(Stopping {
                    assignment: m.assignment,
                    pid,
                    kill_at: Instant::now() + STOP_GRACE,
                });
            }
            None => {
                self.release(&m.assignment);
                tracing::info!(broker = %id, "broker removed");
            }
        }
    }

    /// Releases the volumes of removed brokers that have exited; kills those past their
    /// grace period.
    fn reap_stopped(&mut self) {
        let now = Instant::now();
        let (gone, still): (Vec<Stopping>, Vec<Stopping>) = std::mem::take(&mut self.stopping)
            .into_iter()
            .partition(|s| !s.pid.alive());
        self.stopping = still;
        for s in &self.stopping {
            if now >= s.kill_at {
                tracing::warn!(broker = %s.assignment.broker_id, "broker did not stop in time: killing it");
                s.pid.signal("-KILL");
            }
        }
        for s in gone {
            self.release(&s.assignment);
            tracing::info!(broker = %s.assignment.broker_id, "broker removed");
        }
    }

    /// Whether a stopping broker still holds a port `a` needs.
    fn ports_busy(&self, a: &BrokerAssignment) -> bool {
        let ports = |x: &BrokerAssignment| {
            let controller = x.cluster.as_ref().map(|c| c.controller_port);
            let replication = x.cluster.as_ref().and_then(|c| c.replication_port);
            [Some(x.port), controller, replication]
        };
        let wanted = ports(a);
        self.stopping.iter().any(|s| {
            ports(&s.assignment)
                .iter()
                .flatten()
                .any(|p| wanted.contains(&Some(*p)))
        })
    }

    /// Releases the volume of a broker that is no longer assigned, and its state.
    fn release(&self, a: &BrokerAssignment) {
        let id = a.broker_id;
        match self.storage_for(a).and_then(|s| s.release(id)) {
            Ok(()) => tracing::info!(broker = %id, "volume released"),
            Err(e) => tracing::warn!(broker = %id, error = %e, "could not release the volume"),
        }
        let _ = std::fs::remove_dir_all(self.dir(id));
    }

    /// What each broker looks like now.
    pub async fn observe(&self) -> Vec<BrokerObserved> {
        let mut out = Vec::with_capacity(self.brokers.len());
        for (id, m) in &self.brokers {
            let running = m.pid.is_some_and(|p| p.alive());
            let answer = if running {
                let target = probe::ProbeTarget {
                    addr: format!("127.0.0.1:{}", m.assignment.port),
                    // The client port speaks TLS unless the cluster's clients are plaintext.
                    tls: m
                        .assignment
                        .security
                        .as_ref()
                        .filter(|s| !s.plaintext_clients)
                        .map(|s| (s.ca_pem.as_str(), self.address.as_str())),
                };
                probe::api_versions(target).await
            } else {
                Err(m.last_error.clone())
            };
            let traffic = tideway_engine::stats::read_published(&m.volume);
            out.push(BrokerObserved {
                broker_id: *id,
                running,
                answering: answer.is_ok(),
                detail: answer.err().unwrap_or_default(),
                disk_used_bytes: Some(volumes::used_bytes(&m.volume)),
                bytes_in: traffic.map(|t| t.bytes_in),
                bytes_out: traffic.map(|t| t.bytes_out),
                metrics_port: traffic.and_then(|t| t.metrics_port),
            });
        }
        out.extend(self.unprepared.iter().map(|(id, (_, why))| BrokerObserved {
            broker_id: *id,
            running: false,
            answering: false,
            detail: format!("cannot prepare the broker: {why}"),
            disk_used_bytes: None,
            bytes_in: None,
            bytes_out: None,
            metrics_port: None,
        }));
        out
    }
}

/// Starts `broker-agent broker --config` detached from the agent, logging beside its config.
fn start(exe: &Path, dir: &Path) -> Result<BrokerPid, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("broker.log"))
        .map_err(|e| format!("cannot open the broker log: {e}"))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .arg("broker")
        .arg("--config")
        .arg(dir.join("broker.toml"))
        // Brokers have no business with the agent's credential.
        .env_remove(super::TOKEN_ENV)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the broker: {e}"))?;
    // Its identity, read while it is surely running or just started.
    let broker = BrokerPid::of(child.id());
    // The broker outlives the agent; its exit is noticed through /proc, and the thread
    // below reaps it so it does not linger as a zombie while the agent runs.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    let broker = broker.ok_or("the broker exited as soon as it started; see broker.log")?;
    write_atomic(&dir.join("broker.pid"), broker.to_file().as_bytes())
        .map_err(|e| format!("cannot write the pid file: {e}"))?;
    tracing::info!(pid = broker.pid, dir = %dir.display(), "broker started");
    Ok(broker)
}
