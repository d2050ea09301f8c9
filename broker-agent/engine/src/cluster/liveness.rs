//! Broker liveness, KRaft-style: every broker heartbeats to the controller; the
//! controller declares a broker silent for `broker.session.timeout.ms` down (its
//! leaderships move to other in-sync replicas) and a down broker that heartbeats again
//! alive. A broker stopping gracefully says so first and hands its leaderships over
//! before it closes (controlled shutdown).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use super::{
    image::Command,
    network::{self, Request},
    MetadataQuorum,
};

/// How often brokers heartbeat and the controller checks on them.
const TICK: Duration = Duration::from_millis(200);

/// What the controller heard from each broker.
#[derive(Default)]
pub struct Liveness {
    /// Broker id → (last heartbeat, whether it said it is stopping).
    seen: Mutex<HashMap<i32, (Instant, bool)>>,
    /// Set on this broker once it starts a controlled shutdown.
    stopping: AtomicBool,
}

impl Liveness {
    /// Records a heartbeat (on the controller).
    pub fn beat(&self, id: i32, stopping: bool) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (Instant::now(), stopping));
    }

    fn last(&self, id: i32) -> Option<(Instant, bool)> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied()
    }
}

/// This broker's heartbeats to whichever voter is the controller.
pub async fn heartbeat(quorum: Arc<MetadataQuorum>, me: i32) {
    let mut tick = tokio::time::interval(TICK);
    let mut link = None;
    loop {
        tick.tick().await;
        if quorum.liveness.stopping.load(Ordering::Acquire) {
            return;
        }
        send_heartbeat(&quorum, me, false, &mut link).await;
    }
}

/// One heartbeat over `link` (kept open to the controller, replaced when it changes).
async fn send_heartbeat(
    quorum: &MetadataQuorum,
    me: i32,
    stopping: bool,
    link: &mut Option<network::Link>,
) {
    let Some(controller) = quorum.controller() else {
        return;
    };
    if controller == me as u64 {
        quorum.liveness.beat(me, stopping);
        return;
    }
    let Some(addr) = quorum.voter_address(controller) else {
        return;
    };
    let link = match link {
        Some(l) if l.addr() == addr => l,
        _ => link.insert(network::Link::new(&quorum.transport, &addr)),
    };
    let request = Request::Heartbeat { id: me, stopping };
    if let Err(e) = link.call(request, TICK * 5).await {
        tracing::debug!(controller, error = %e, "heartbeat not delivered");
    }
}

/// On the controller: marks silent brokers down and returning ones up. A controller
/// that just took over gives every broker a full session to be heard from.
pub async fn watch_brokers(quorum: Arc<MetadataQuorum>, session_timeout: Duration) {
    let mut tick = tokio::time::interval(TICK);
    let mut leading_since: Option<Instant> = None;
    // Changes proposed recently, so one is not proposed again before it is applied.
    let mut proposed: HashMap<(i32, bool), Instant> = HashMap::new();
    loop {
        tick.tick().await;
        if !quorum.is_controller() {
            leading_since = None;
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        let image = quorum.image();
        let stopping = quorum.liveness.stopping.load(Ordering::Acquire);
        for b in image.brokers.values() {
            let heard = quorum.liveness.last(b.id).filter(|(at, _)| *at >= since);
            let change = match heard {
                // The controller is alive by definition (unless it is stopping).
                _ if b.id as u64 == quorum.node_id => (!b.alive && !stopping).then_some(true),
                Some((_, true)) if b.alive => Some(false),
                Some((at, false)) if !b.alive && at.elapsed() < TICK * 3 => Some(true),
                Some((at, _)) if b.alive && at.elapsed() > session_timeout => Some(false),
                None if b.alive && since.elapsed() > session_timeout => Some(false),
                _ => None,
            };
            if let Some(alive) = change.filter(|alive| {
                proposed
                    .get(&(b.id, *alive))
                    .is_none_or(|at| at.elapsed() > session_timeout)
            }) {
                proposed.insert((b.id, alive), Instant::now());
                tracing::info!(broker = b.id, alive, "broker liveness changed");
                // Committed here or not at all: a controller that lost its quorum must
                // not have its stale verdict forwarded to the next one.
                let q = quorum.clone();
                let command = Command::SetBrokerAlive { id: b.id, alive };
                tokio::spawn(async move {
                    if let Err(e) = q.propose_as_controller(command).await {
                        tracing::warn!(error = %e, "cannot record a broker's liveness");
                    }
                });
            }
        }
    }
}

/// Controlled shutdown: stop heartbeating, tell the controller this broker is leaving,
/// and wait (up to `patience` in all) until the cluster no longer counts on it as a
/// leader.
pub async fn leave(quorum: &MetadataQuorum, me: i32, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    quorum.liveness.stopping.store(true, Ordering::Release);
    let image = quorum.image();
    if !image.brokers.values().any(|b| b.alive && b.id != me) {
        // The last broker standing (a whole cluster stopping): no one to hand over to,
        // and no quorum to record it with.
        tracing::info!("controlled shutdown: no other live broker; stopping");
        return;
    }
    send_heartbeat(quorum, me, true, &mut None).await;
    let propose = quorum.propose(Command::SetBrokerAlive {
        id: me,
        alive: false,
    });
    match tokio::time::timeout_at(deadline, propose).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown not acknowledged"),
        Err(_) => tracing::warn!("controlled shutdown timed out; stopping anyway"),
    }
    let mut images = quorum.watch();
    let gone = images.wait_for(|i| {
        i.topics
            .values()
            .flat_map(|t| &t.partitions)
            .all(|p| p.leader != me || p.isr.len() <= 1)
    });
    let _ = tokio::time::timeout_at(deadline, gone).await;
    tracing::info!("controlled shutdown: leaderships handed over");
}
