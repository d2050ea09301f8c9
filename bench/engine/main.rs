//! `bench/engine`: throughput and latency of the bundled broker with a real client
//! (librdkafka through rdkafka), beside the raw sequential write speed of the same disk
//! with the same flush policy (fsync at most once a second, the engine's default
//! `flush.ms`), measured in the same run. Prints a table and the engine/raw ratios.
//!
//! Run: `cargo run --release -p tideway-bench --bin engine -- [--dir DIR] [--scale F]`
//! (the broker binary is taken from the same target directory; build it with
//! `cargo build --release -p broker-agent` first).

use std::{
    io::Write,
    path::{Path, PathBuf},
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

#[path = "../common/broker.rs"]
mod broker;
mod cluster;
mod secure;

use broker::{start_broker, start_broker_with, Broker};

const PARTITIONS: i32 = 4;

/// Sequential writes of `total` bytes in 1 MiB chunks, fsync at most once a second.
fn raw_write(dir: &Path, total: u64) -> anyhow::Result<f64> {
    let path = dir.join("raw.bin");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0xabu8; 1 << 20];
    let start = Instant::now();
    let mut last_sync = Instant::now();
    let mut written = 0;
    while written < total {
        f.write_all(&chunk)?;
        written += chunk.len() as u64;
        if last_sync.elapsed() >= Duration::from_secs(1) {
            f.sync_data()?;
            last_sync = Instant::now();
        }
    }
    f.sync_data()?;
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(written as f64 / secs / 1e6)
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
fn produce_throughput(
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
fn consume_throughput(base: &ClientConfig, topic: &str, count: u64) -> anyhow::Result<f64> {
    let c: BaseConsumer = base.clone().set("group.id", "bench").create()?;
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

/// Sends `rate` records per second for `secs` seconds (no linger): p50, p99.
fn latency(
    base: &ClientConfig,
    topic: &str,
    size: usize,
    rate: u64,
    secs: u64,
    acks: &str,
) -> anyhow::Result<(Duration, Duration)> {
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
    Ok((l[l.len() / 2], l[l.len() * 99 / 100]))
}

fn create_topic(base: &ClientConfig, name: &str) -> anyhow::Result<()> {
    create_replicated_topic(base, name, 1)
}

fn create_replicated_topic(base: &ClientConfig, name: &str, replicas: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base.create()?;
    let rt = std::thread::spawn({
        let name = name.to_owned();
        move || {
            let t = NewTopic::new(&name, PARTITIONS, TopicReplication::Fixed(replicas));
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
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
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
fn plaintext(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> anyhow::Result<()> {
    let base = PathBuf::from(arg("--dir").unwrap_or_else(|| "/var/tmp/tideway-bench".into()));
    let scale: f64 = arg("--scale")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1.0);
    let n = |base: f64| (base * scale).max(1000.0) as u64;
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::tempdir_in(&base)?;
    let broker = start_broker(&dir.path().join("broker"))?;
    let b = plaintext(&broker.bootstrap);
    println!(
        "bench/engine: broker at {}, data under {}",
        broker.bootstrap,
        dir.path().display()
    );
    println!(
        "{:>7} {:>5} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "record", "acks", "produce MB/s", "records/s", "consume MB/s", "p50 ms", "p99 ms", "vs raw"
    );
    let mut raw_total = 0.0;
    let mut raw_runs = 0.0;
    for (size, count) in [(100usize, n(1_000_000.0)), (1024, n(200_000.0))] {
        let total = count * size as u64;
        let raw = raw_write(dir.path(), total)?;
        raw_total += raw;
        raw_runs += 1.0;
        for acks in ["1", "all"] {
            let topic = format!("bench-{size}-{acks}");
            create_topic(&b, &topic)?;
            let (mbs, rps) = produce_throughput(&b, &topic, count, size, acks)?;
            let consume = if acks == "1" {
                format!("{:.1}", consume_throughput(&b, &topic, count)?)
            } else {
                "-".into()
            };
            let (p50, p99) = if acks == "1" {
                let lt = format!("lat-{size}");
                create_topic(&b, &lt)?;
                let (a, c) = latency(&b, &lt, size, 1000, 5, "1")?;
                (
                    format!("{:.2}", a.as_secs_f64() * 1e3),
                    format!("{:.2}", c.as_secs_f64() * 1e3),
                )
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:>7} {:>5} {:>12.1} {:>12.0} {:>12} {:>10} {:>10} {:>9.2}x",
                format!("{size} B"),
                acks,
                mbs,
                rps,
                consume,
                p50,
                p99,
                mbs / raw
            );
        }
        println!(
            "{:>7} {:>5} {:>12.1}   (raw sequential write, 1 MiB chunks, fsync each second)",
            format!("{size} B"),
            "raw",
            raw
        );
    }
    println!(
        "latency: 1000 records/s for 5 s, acks=1, linger.ms=0; raw write speed averaged {:.1} MB/s",
        raw_total / raw_runs
    );
    drop(broker);
    secure::run(dir.path(), n(200_000.0))?;
    cluster::run(dir.path(), n(200_000.0))
}
