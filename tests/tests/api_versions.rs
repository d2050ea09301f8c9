//! The APIs and versions the engine advertises, beside Apache Kafka's: Kafka's
//! `kafka-broker-api-versions` tool asks both, and every API Kafka serves must be served
//! by the engine over the same version range, unless `e2e::differences::API_GAPS` names
//! the gap and its reason. The engine advertises nothing Kafka does not.

use std::collections::BTreeMap;

use e2e::{
    differences::{self, ApiGap},
    engine_broker::EngineBroker,
    reference_kafka::{run_tool, ReferenceKafka},
};

const API_VERSIONS: &str = "org.apache.kafka.tools.BrokerApiVersionsCommand";

/// What one broker answers for an API: its version range, or none.
type Advertised = BTreeMap<String, Option<(i16, i16)>>;

/// Parses the tool's lines `\tProduce(0): 3 to 13 [usable: 13],` and
/// `\tShareFetch(78): UNSUPPORTED,`.
fn parse(output: &str) -> Advertised {
    let mut apis = BTreeMap::new();
    for line in output.lines() {
        let line = line.trim().trim_end_matches(',');
        let Some((name, rest)) = line.split_once(": ") else {
            continue;
        };
        if !name.ends_with(')') {
            continue;
        }
        let range = rest.split(" [").next().unwrap_or(rest);
        let versions = range.split_once(" to ").map(|(lo, hi)| {
            (
                lo.parse().expect("a lowest version"),
                hi.parse().expect("a highest version"),
            )
        });
        apis.insert(name.to_owned(), versions);
    }
    apis
}

fn advertised(bootstrap: &str) -> Advertised {
    let out = run_tool(API_VERSIONS, &["--bootstrap-server", bootstrap], "").expect("java");
    assert!(
        out.status.success(),
        "kafka-broker-api-versions failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let apis = parse(&String::from_utf8_lossy(&out.stdout));
    assert!(
        apis.len() > 40,
        "too few APIs parsed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    apis
}

/// How the engine's answer for one API departs from Kafka's, if it does.
fn departure(kafka: Option<(i16, i16)>, engine: Option<(i16, i16)>) -> Option<ApiGap> {
    match (kafka, engine) {
        (k, e) if k == e => None,
        (Some(_), None) => Some(ApiGap::Absent),
        (Some((klo, khi)), Some((elo, ehi))) if elo == klo && ehi < khi => Some(ApiGap::UpTo(ehi)),
        _ => Some(ApiGap::Unexplained),
    }
}

#[test]
fn the_engine_serves_the_api_versions_kafka_serves_bar_the_named_gaps() {
    let kafka = ReferenceKafka::start().expect("Apache Kafka");
    let engine = EngineBroker::start(&[]).expect("the engine");
    let (want, got) = (advertised(&kafka.bootstrap), advertised(&engine.bootstrap));
    let mut unexplained = Vec::new();
    for (api, kafka_range) in &want {
        let engine_range = got.get(api).copied().flatten();
        let found = departure(*kafka_range, engine_range);
        let named = differences::api_gap(api).map(|(gap, _why)| gap);
        if found != named {
            unexplained.push(format!(
                "{api}: Kafka {kafka_range:?}, engine {engine_range:?}, named gap {named:?}"
            ));
        }
    }
    for (api, range) in &got {
        if range.is_some() && want.get(api).copied().flatten().is_none() {
            unexplained.push(format!(
                "{api}: the engine serves {range:?}, Kafka does not"
            ));
        }
    }
    assert!(
        unexplained.is_empty(),
        "API versions differ from Kafka's without a named reason:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn departures_are_classified() {
    assert_eq!(departure(Some((3, 13)), Some((3, 13))), None);
    assert_eq!(departure(None, None), None);
    assert_eq!(departure(Some((0, 1)), None), Some(ApiGap::Absent));
    assert_eq!(
        departure(Some((4, 18)), Some((4, 12))),
        Some(ApiGap::UpTo(12))
    );
    assert_eq!(
        departure(Some((4, 18)), Some((5, 18))),
        Some(ApiGap::Unexplained)
    );
    assert_eq!(departure(None, Some((0, 1))), Some(ApiGap::Unexplained));
}

#[test]
fn the_tools_lines_are_parsed() {
    let apis = parse(
        "127.0.0.1:9092 (id: 1 rack: null isFenced: false) -> (\n\
         \tProduce(0): 3 to 13 [usable: 13],\n\tShareFetch(78): UNSUPPORTED,\n)\n",
    );
    assert_eq!(apis.get("Produce(0)"), Some(&Some((3, 13))));
    assert_eq!(apis.get("ShareFetch(78)"), Some(&None));
    assert_eq!(apis.len(), 2);
}
