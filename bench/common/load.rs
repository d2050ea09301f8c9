//! The client side of the broker benchmarks: librdkafka (through rdkafka) producing as
//! fast as it can, consuming from the start, and producing at a fixed rate to measure
//! delivery latency. The same code drives the engine and Apache Kafka.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    message::DeliveryResult,
    producer::{BaseProducer, BaseRecord, Producer, ProducerContext},
    ClientConfig, ClientContext, Message, Offset, TopicPartitionList,
};

/// Partitions of every benchmark topic.
pub const PARTITIONS: i32 = 4;

/// Delivery latency percentiles.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
}

/// Counts deliveries and records their latency when the opaque carries a send time.
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

struct Ctx(Arc<Deliveries>);
impl ClientContext for Ctx {}
impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<Option<Instant>>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent: Self::DeliveryOpaque) {
        if result.is_ok() {
            self.0.ok.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = *sent {
                self.0.latencies.lock().expect("lock").push(t.elapsed());
            }
        } else {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn producer(
    base: &ClientConfig,
    acks: &str,
    linger: &str,
) -> anyhow::Result<(BaseProducer<Ctx>, Arc<Deliveries>)> {
    let d = Arc::new(Deliveries {
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        latencies: Mutex::default(),
    });
    let p = base
        .clone()
        .set("acks", acks)
        .set("linger.ms", linger)
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "500000")
        .create_with_context(Ctx(d.clone()))?;
    Ok((p, d))
}

fn send(p: &BaseProducer<Ctx>, topic: &str, i: u64, payload: &[u8], opaque: Box<Option<Instant>>) {
    let key = i.to_be_bytes();
    let mut record = BaseRecord::with_opaque_to(topic, opaque)
        .key(&key[..])
        .payload(payload)
        .partition((i % PARTITIONS as u64) as i32);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((_, r)) => {
                record = r;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

/// Produces `count` records of `size` bytes as fast as possible: (MB/s, records/s).
pub fn produce_throughput(
    base: &ClientConfig,
    topic: &str,
    count: u64,
    size: usize,
    acks: &str,
) -> anyhow::Result<(f64, f64)> {
    let (p, d) = producer(base, acks, "5")?;
    let payload = vec![b'x'; size];
    let start = Instant::now();
    for i in 0..count {
        send(&p, topic, i, &payload, Box::new(None));
        if i % 1000 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120))?;
    let secs = start.elapsed().as_secs_f64();
    if d.failed.load(Ordering::Relaxed) > 0 || d.ok.load(Ordering::Relaxed) != count {
        bail!(
            "{} of {count} deliveries failed",
            d.failed.load(Ordering::Relaxed)
        );
    }
    Ok((
        (count * size as u64) as f64 / secs / 1e6,
        count as f64 / secs,
    ))
}

/// Reads `count` records from the start: MB/s of record values.
pub fn consume_throughput(base: &ClientConfig, topic: &str, count: u64) -> anyhow::Result<f64> {
    // Assigned partitions and no commits: reading involves no group coordinator.
    let c: BaseConsumer = base
        .clone()
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let (mut n, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    while n < count {
        match c.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(e)) => bail!("consume: {e}"),
            None => bail!("consume stalled at {n} of {count}"),
        }
    }
    Ok(bytes as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// Sends `rate` records per second for `secs` seconds (no linger): the percentiles.
pub fn latency(
    base: &ClientConfig,
    topic: &str,
    size: usize,
    rate: u64,
    secs: u64,
    acks: &str,
) -> anyhow::Result<Latency> {
    let (p, d) = producer(base, acks, "0")?;
    let payload = vec![b'x'; size];
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for i in 0..rate * secs {
        let due = start + interval * i as u32;
        while Instant::now() < due {
            p.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(100));
        }
        send(&p, topic, i, &payload, Box::new(Some(Instant::now())));
    }
    p.flush(Duration::from_secs(30))?;
    let mut l = d.latencies.lock().expect("lock").clone();
    l.sort();
    anyhow::ensure!(!l.is_empty(), "no deliveries");
    let at = |per_mille: usize| l[(l.len() * per_mille / 1000).min(l.len() - 1)];
    Ok(Latency {
        p50: at(500),
        p99: at(990),
        p999: at(999),
    })
}

/// Creates a topic of `PARTITIONS` partitions with one replica.
pub fn create_topic(base: &ClientConfig, name: &str) -> anyhow::Result<()> {
    create_topic_with(base, name, 1, &[])
}

/// Creates a topic, retrying for up to `within` while a new cluster elects its controller
/// and its brokers register.
pub fn create_topic_when_ready(
    base: &ClientConfig,
    name: &str,
    replicas: i32,
    configs: &[(&str, &str)],
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        match create_topic_with(base, name, replicas, configs) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Creates a topic of `PARTITIONS` partitions with `configs`.
pub fn create_topic_with(
    base: &ClientConfig,
    name: &str,
    replicas: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base.create()?;
    let configs: Vec<(String, String)> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let rt = std::thread::spawn({
        let name = name.to_owned();
        move || {
            let mut t = NewTopic::new(&name, PARTITIONS, TopicReplication::Fixed(replicas));
            for (k, v) in &configs {
                t = t.set(k, v);
            }
            futures_lite_block_on(admin.create_topics([&t], &AdminOptions::new()))
        }
    });
    let r = rt
        .join()
        .map_err(|_| anyhow::anyhow!("admin thread panicked"))??;
    r[0].as_ref()
        .map_err(|(t, e)| anyhow::anyhow!("create {t}: {e}"))?;
    Ok(())
}

/// Drives one future to completion on this thread (rdkafka's admin futures need no runtime).
pub fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Client settings for a plaintext listener.
pub fn plaintext(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}
