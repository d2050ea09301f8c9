//! Apache Kafka's own command-line tools (kafka-topics, kafka-console-producer,
//! kafka-console-consumer, kafka-consumer-groups, kafka-configs, kafka-acls,
//! kafka-log-dirs, kafka-producer-perf-test, kafka-consumer-perf-test: their main classes
//! from the pinned jars) against the engine, with the same commands against Kafka as the
//! reference: the engine must give the same output, bar what is random (topic ids, data
//! paths, timings) and the deliberate differences of `e2e::differences`.

use e2e::{
    differences,
    engine_broker::EngineBroker,
    reference_kafka::{run_tool, ReferenceKafka},
};

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
const CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const CONFIGS: &str = "kafka.admin.ConfigCommand";
const ACLS: &str = "org.apache.kafka.tools.AclCommand";
const LOG_DIRS: &str = "org.apache.kafka.tools.LogDirsCommand";
const PRODUCER_PERF: &str = "org.apache.kafka.tools.ProducerPerformance";
const CONSUMER_PERF: &str = "org.apache.kafka.tools.ConsumerPerformance";

/// Runs a tool that may fail, feeding it `stdin`: (exit code, stdout, stderr).
fn attempt(class: &str, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let out = run_tool(class, args, stdin).expect("java");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a tool that must succeed: its stdout, or a panic with its stderr.
fn succeed(class: &str, args: &[&str], stdin: &str) -> String {
    let (code, out, err) = attempt(class, args, stdin);
    assert_eq!(
        code,
        Some(0),
        "{class} {args:?} exited with {code:?}: {err}"
    );
    out
}

/// Runs a tool against `bootstrap` (`--bootstrap-server`); it must succeed.
fn tool(class: &str, bootstrap: &str, args: &[&str], stdin: &str) -> String {
    succeed(
        class,
        &[&["--bootstrap-server", bootstrap][..], args].concat(),
        stdin,
    )
}

/// A session's steps: (step, normalised output).
type Steps = Vec<(&'static str, String)>;

/// Runs `session` against Apache Kafka and against the engine: (Kafka's steps, the
/// engine's).
fn on_both(session: fn(&str) -> Steps) -> (Steps, Steps) {
    let kafka = ReferenceKafka::start().expect("Apache Kafka");
    let engine = EngineBroker::start(&[]).expect("the engine");
    (session(&kafka.bootstrap), session(&engine.bootstrap))
}

/// Every step's output from the engine is the one Kafka gave.
fn assert_same_steps(reference: &Steps, tried: &Steps) {
    for ((step, want), (_, got)) in reference.iter().zip(tried) {
        assert_eq!(
            got, want,
            "{step}: the engine's output differs from Kafka's"
        );
    }
}

/// A session with the tools, step by step: (step, normalised output).
fn session(bootstrap: &str) -> Steps {
    let create = tool(
        TOPICS,
        bootstrap,
        &["--create", "--topic", "tools", "--partitions", "3"],
        "",
    );
    let topic_id = regex::Regex::new(r"TopicId: \S+").expect("regex");
    let describe = tool(TOPICS, bootstrap, &["--describe", "--topic", "tools"], "");
    let describe = topic_id.replace_all(&describe, "TopicId: -").into_owned();
    // Keyed records: the partitioner puts each on the same partition of either broker.
    let produce = tool(
        PRODUCER,
        bootstrap,
        &[
            "--topic",
            "tools",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        "k1:a\nk2:b\nk3:c\nk4:d\n",
    );
    // Partitions are read in no particular order: the records sorted.
    let consume = tool(
        CONSUMER,
        bootstrap,
        &[
            "--topic",
            "tools",
            "--from-beginning",
            "--max-messages",
            "4",
            "--group",
            "g1",
        ],
        "",
    );
    let mut consumed: Vec<&str> = consume.lines().collect();
    consumed.sort();
    let consume = consumed.join("\n");
    // Group rows come in no particular order: sorted, the header first.
    let groups = tool(GROUPS, bootstrap, &["--describe", "--group", "g1"], "");
    let mut rows: Vec<&str> = groups.lines().filter(|l| !l.trim().is_empty()).collect();
    if rows.len() > 1 {
        rows[1..].sort();
    }
    vec![
        ("create", create),
        ("describe", describe),
        ("produce", produce),
        ("consume", consume),
        ("groups", rows.join("\n")),
    ]
}

#[test]
fn kafkas_cli_tools_see_the_engine_as_they_see_kafka() {
    let (reference, tried) = on_both(session);
    assert_eq!(reference[0].1.trim(), "Created topic tools.");
    assert_eq!(
        reference[3].1, "a\nb\nc\nd",
        "the records consumed from Kafka"
    );
    assert_same_steps(&reference, &tried);
}

/// The Kafka error a failed tool reports (its class; the broker's own wording of the
/// message may differ), from anywhere in its output.
fn exception(output: &str) -> String {
    regex::Regex::new(r"org\.apache\.kafka\.common\.errors\.\w+")
        .expect("regex")
        .find(output)
        .map_or_else(|| "no Kafka error".to_owned(), |m| m.as_str().to_owned())
}

/// Config lines of `kafka-configs --describe`, without the deliberate differences.
fn comparable_configs(output: &str) -> String {
    output
        .lines()
        .filter(|l| {
            let name = l.trim_start().split('=').next().unwrap_or_default();
            !differences::config_differs(name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An admin session: configs, SCRAM users, ACLs, log dirs and the perf tools.
fn admin_session(bootstrap: &str) -> Steps {
    tool(
        TOPICS,
        bootstrap,
        &["--create", "--topic", "admin", "--partitions", "2"],
        "",
    );
    let topic = ["--entity-type", "topics", "--entity-name", "admin"];
    let alter = tool(
        CONFIGS,
        bootstrap,
        &[
            &topic[..],
            &[
                "--alter",
                "--add-config",
                "retention.ms=3600000,max.message.bytes=2000000",
            ],
        ]
        .concat(),
        "",
    );
    let dynamic = tool(
        CONFIGS,
        bootstrap,
        &[&topic[..], &["--describe"]].concat(),
        "",
    );
    let all = tool(
        CONFIGS,
        bootstrap,
        &[&topic[..], &["--describe", "--all"]].concat(),
        "",
    );
    let delete = tool(
        CONFIGS,
        bootstrap,
        &[&topic[..], &["--alter", "--delete-config", "retention.ms"]].concat(),
        "",
    );
    let bad = attempt(
        CONFIGS,
        &[
            &["--bootstrap-server", bootstrap][..],
            &topic[..],
            &["--alter", "--add-config", "retention.ms=soon"],
        ]
        .concat(),
        "",
    );
    let scram = tool(
        CONFIGS,
        bootstrap,
        &[
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
            "--alter",
            "--add-config",
            "SCRAM-SHA-256=[iterations=8192,password=bob-secret]",
        ],
        "",
    );
    // No authorizer on either broker: the tool reports Kafka's SECURITY_DISABLED.
    let (acl_code, acl_out, acl_err) =
        attempt(ACLS, &["--bootstrap-server", bootstrap, "--list"], "");
    // kafka-log-dirs prints JSON with the data directory's path: the path is dropped.
    tool(
        PRODUCER,
        bootstrap,
        &[
            "--topic",
            "admin",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        // Keyed, so each record lands on the same partition of either broker.
        "k1:one\nk2:two\nk3:three\n",
    );
    let dirs = tool(
        LOG_DIRS,
        bootstrap,
        &["--describe", "--topic-list", "admin"],
        "",
    );
    let path = regex::Regex::new(r#""logDir":"[^"]*""#).expect("regex");
    let dirs = path.replace_all(&dirs, r#""logDir":"-""#).into_owned();
    // The producer tool takes its servers among the producer properties.
    let perf = succeed(
        PRODUCER_PERF,
        &[
            "--topic",
            "admin",
            "--num-records",
            "2000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
        ],
        "",
    );
    let sent = perf
        .lines()
        .last()
        .and_then(|l| l.split(',').next())
        .unwrap_or_default()
        .to_owned();
    let consumed = tool(
        CONSUMER_PERF,
        bootstrap,
        &[
            "--topic",
            "admin",
            "--messages",
            "2003",
            "--timeout",
            "30000",
            "--show-detailed-stats",
        ],
        "",
    );
    let consumed = consumed.lines().any(|l| l.contains("2003"));
    vec![
        ("alter configs", alter),
        ("describe dynamic configs", dynamic),
        ("describe all configs", comparable_configs(&all)),
        ("delete a config", delete),
        (
            "a bad value",
            format!("{:?} {}", bad.0, exception(&(bad.1 + &bad.2))),
        ),
        ("a SCRAM user", scram),
        ("acls", format!("{acl_code:?} {acl_out}{acl_err}")),
        ("log dirs", dirs),
        ("producer-perf-test", sent),
        ("consumer-perf-test read every record", consumed.to_string()),
    ]
}

#[test]
fn kafkas_admin_and_perf_tools_see_the_engine_as_they_see_kafka() {
    let (reference, tried) = on_both(admin_session);
    assert_eq!(
        reference[8].1, "2000 records sent",
        "Kafka's perf test summary"
    );
    assert_same_steps(&reference, &tried);
}
