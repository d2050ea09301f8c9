//! How Kafka describes a topic config: its type, and the chain of synonyms a value comes
//! from (the topic's own override, the cluster-wide dynamic default, the broker's static
//! setting, the built-in default), each under the name Kafka gives it at that level.
//! Pure tables and functions; `configs` does the I/O.

/// Config sources as Kafka numbers them.
pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
pub const STATIC_BROKER_CONFIG: i8 = 4;
pub const DEFAULT_CONFIG: i8 = 5;

/// Config types as Kafka numbers them in DescribeConfigs v3+.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    List = 7,
}

/// One topic config the engine honours, as Kafka describes it.
#[derive(Debug)]
pub struct TopicConfigSpec {
    pub name: &'static str,
    pub kind: ConfigType,
    /// The broker config that sets its default.
    pub broker_name: &'static str,
    /// Whether Kafka lists the built-in default as a synonym (it does not when the broker
    /// config has no default of its own and the value is derived, as for `retention.ms`
    /// from `log.retention.hours`).
    pub default_listed: bool,
}

const fn spec(
    name: &'static str,
    kind: ConfigType,
    broker_name: &'static str,
    default_listed: bool,
) -> TopicConfigSpec {
    TopicConfigSpec {
        name,
        kind,
        broker_name,
        default_listed,
    }
}

/// Every topic config the engine honours, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigSpec] = &[
    spec(
        "cleanup.policy",
        ConfigType::List,
        "log.cleanup.policy",
        true,
    ),
    spec(
        "compression.type",
        ConfigType::String,
        "compression.type",
        true,
    ),
    spec(
        "flush.messages",
        ConfigType::Long,
        "log.flush.interval.messages",
        true,
    ),
    spec("flush.ms", ConfigType::Long, "log.flush.interval.ms", false),
    spec(
        "index.interval.bytes",
        ConfigType::Int,
        "log.index.interval.bytes",
        true,
    ),
    spec(
        "max.message.bytes",
        ConfigType::Int,
        "message.max.bytes",
        true,
    ),
    spec(
        "message.timestamp.type",
        ConfigType::String,
        "log.message.timestamp.type",
        true,
    ),
    spec(
        "min.insync.replicas",
        ConfigType::Int,
        "min.insync.replicas",
        true,
    ),
    spec(
        "retention.bytes",
        ConfigType::Long,
        "log.retention.bytes",
        true,
    ),
    spec("retention.ms", ConfigType::Long, "log.retention.ms", false),
    spec("segment.bytes", ConfigType::Int, "log.segment.bytes", true),
    spec("segment.ms", ConfigType::Long, "log.roll.ms", false),
    spec(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "unclean.leader.election.enable",
        true,
    ),
];

pub fn topic_config(name: &str) -> Option<&'static TopicConfigSpec> {
    TOPIC_CONFIGS.iter().find(|s| s.name == name)
}

/// Where a topic config's value could come from, most specific first.
#[derive(Debug, Default)]
pub struct Levels<'a> {
    pub topic: Option<&'a str>,
    pub dynamic_default: Option<&'a str>,
    pub static_broker: Option<&'a str>,
    pub built_in: &'a str,
}

/// A described config: (value, source, synonyms as (name, value, source)).
pub type Described = (String, i8, Vec<(String, String, i8)>);

/// The value, its source and the synonym chain Kafka reports for `spec` at `levels`.
pub fn describe(spec: &TopicConfigSpec, levels: &Levels<'_>) -> Described {
    let mut synonyms = Vec::new();
    let mut push = |name: &str, value: &str, source: i8| {
        synonyms.push((name.to_owned(), value.to_owned(), source));
    };
    if let Some(v) = levels.topic {
        push(spec.name, v, DYNAMIC_TOPIC_CONFIG);
    }
    if let Some(v) = levels.dynamic_default {
        push(spec.broker_name, v, DYNAMIC_DEFAULT_BROKER_CONFIG);
    }
    if let Some(v) = levels.static_broker {
        push(spec.broker_name, v, STATIC_BROKER_CONFIG);
    }
    if spec.default_listed {
        push(spec.broker_name, levels.built_in, DEFAULT_CONFIG);
    }
    let (value, source) = match synonyms.first() {
        Some((_, v, source)) => (v.clone(), *source),
        None => (levels.built_in.to_owned(), DEFAULT_CONFIG),
    };
    (value, source, synonyms)
}

/// The IncrementalAlterConfigs APPEND (`add`) or SUBTRACT of `values` on a list config
/// whose current value is `current`: Kafka's result, without duplicates.
pub fn edit_list(current: &str, values: &str, add: bool) -> String {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut list = split(current);
    for v in split(values) {
        match (add, list.contains(&v)) {
            (true, false) => list.push(v),
            (false, true) => list.retain(|x| *x != v),
            _ => {}
        }
    }
    list.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str, levels: Levels<'_>) -> Described {
        describe(topic_config(name).expect(name), &levels)
    }

    #[test]
    fn synonym_chains_follow_kafkas_levels() {
        let s = |n: &str, v: &str, src: i8| (n.to_owned(), v.to_owned(), src);
        let table: Vec<(&str, Levels<'_>, Described)> = vec![
            (
                "segment.bytes",
                Levels {
                    built_in: "1073741824",
                    ..Levels::default()
                },
                (
                    "1073741824".into(),
                    DEFAULT_CONFIG,
                    vec![s("log.segment.bytes", "1073741824", DEFAULT_CONFIG)],
                ),
            ),
            (
                "retention.ms",
                Levels {
                    built_in: "604800000",
                    ..Levels::default()
                },
                ("604800000".into(), DEFAULT_CONFIG, vec![]),
            ),
            (
                "retention.ms",
                Levels {
                    topic: Some("1000"),
                    static_broker: Some("2000"),
                    built_in: "604800000",
                    ..Levels::default()
                },
                (
                    "1000".into(),
                    DYNAMIC_TOPIC_CONFIG,
                    vec![
                        s("retention.ms", "1000", DYNAMIC_TOPIC_CONFIG),
                        s("log.retention.ms", "2000", STATIC_BROKER_CONFIG),
                    ],
                ),
            ),
            (
                "min.insync.replicas",
                Levels {
                    topic: Some("2"),
                    dynamic_default: Some("1"),
                    built_in: "1",
                    ..Levels::default()
                },
                (
                    "2".into(),
                    DYNAMIC_TOPIC_CONFIG,
                    vec![
                        s("min.insync.replicas", "2", DYNAMIC_TOPIC_CONFIG),
                        s("min.insync.replicas", "1", DYNAMIC_DEFAULT_BROKER_CONFIG),
                        s("min.insync.replicas", "1", DEFAULT_CONFIG),
                    ],
                ),
            ),
        ];
        for (name, levels, want) in table {
            assert_eq!(chain(name, levels), want, "{name}");
        }
    }

    #[test]
    fn list_edits_add_once_and_remove_every_copy() {
        for (current, values, add, want) in [
            ("delete", "delete", true, "delete"),
            ("delete", "compact", true, "delete,compact"),
            ("delete,compact", "compact", false, "delete"),
            ("delete", "compact", false, "delete"),
            ("", "delete", true, "delete"),
        ] {
            assert_eq!(
                edit_list(current, values, add),
                want,
                "{current} {values} {add}"
            );
        }
    }

    #[test]
    fn the_catalog_is_sorted_and_covers_every_honoured_config() {
        let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in crate::log::config::LogConfig::NAMES
            .iter()
            .chain(crate::log::config::PASSIVE_CONFIGS)
        {
            assert!(topic_config(name).is_some(), "{name} is described");
        }
        assert_eq!(
            TOPIC_CONFIGS.len(),
            crate::log::config::LogConfig::NAMES.len() + crate::log::config::PASSIVE_CONFIGS.len()
        );
    }
}
