// Kafka's own Java client (kafka-clients, from the pinned reference jars) driving one
// broker through client scenarios. Each scenario prints what a client sees, one fact per
// line and nothing random (no ids, no clock), so the differential tests can run it against
// Apache Kafka and against the engine and compare the two outputs line by line.
//
// Usage: java -cp '<kafka libs>/*:<classes>' Scenarios <scenario> <bootstrap> [client.properties]
// Scenarios: records, groups, admin, topic-configs, secured (Secured.java).

import java.io.FileReader;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.quota.*;
import org.apache.kafka.common.serialization.*;

public class Scenarios {
    static final long BASE_TS = 1_700_000_000_000L;
    static final Duration DEADLINE = Duration.ofSeconds(60);
    static Properties base = new Properties();

    public static void main(String[] args) throws Exception {
        base.put("bootstrap.servers", args[1]);
        if (args.length > 2) {
            try (FileReader r = new FileReader(args[2])) {
                base.load(r);
            }
        }
        switch (args[0]) {
            case "records" -> records();
            case "groups" -> groups();
            case "admin" -> admin();
            case "topic-configs" -> topicConfigs();
            case "secured" -> Secured.run();
            default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
        }
    }

    static void out(String line) {
        System.out.println(line);
    }

    /** The error class a failed future ends with, or "ok". */
    static String outcome(KafkaFuture<?> f) {
        try {
            f.get();
            return "ok";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    static Properties with(String... kv) {
        Properties p = new Properties();
        p.putAll(base);
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return p;
    }

    static void until(String what, BooleanSupplier done) {
        long end = System.nanoTime() + DEADLINE.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > end) throw new IllegalStateException("timed out: " + what);
        }
    }

    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs)
            throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
                .all().get();
    }

    // ---- records: every codec through the idempotent producer, ListOffsets, DeleteRecords

    static void records() throws Exception {
        try (Admin admin = Admin.create(base)) {
            for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
                String topic = "java-" + codec;
                createTopic(admin, topic, 1, Map.of());
                Properties p = with("enable.idempotence", "true", "acks", "all",
                        "compression.type", codec, "linger.ms", "5",
                        "key.serializer", StringSerializer.class.getName(),
                        "value.serializer", StringSerializer.class.getName());
                List<Long> offsets = new ArrayList<>();
                try (Producer<String, String> producer = new KafkaProducer<>(p)) {
                    List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
                    for (int i = 0; i < 10; i++) {
                        // Record 5 carries the largest timestamp; 7 repeats it.
                        long ts = BASE_TS + (i == 5 || i == 7 ? 100_000 : i * 1000L);
                        ProducerRecord<String, String> r = new ProducerRecord<>(topic, 0, ts,
                                "k" + i, codec + " " + "v".repeat(i * 30));
                        r.headers().add("n", Integer.toString(i).getBytes());
                        sent.add(producer.send(r));
                    }
                    for (var f : sent) offsets.add(f.get().offset());
                }
                out(codec + " acknowledged offsets " + offsets);
                Properties c = with("key.deserializer", StringDeserializer.class.getName(),
                        "value.deserializer", StringDeserializer.class.getName());
                try (Consumer<String, String> consumer = new KafkaConsumer<>(c)) {
                    TopicPartition tp = new TopicPartition(topic, 0);
                    consumer.assign(List.of(tp));
                    consumer.seekToBeginning(List.of(tp));
                    List<ConsumerRecord<String, String>> got = new ArrayList<>();
                    until(topic + " read back", () -> {
                        consumer.poll(Duration.ofMillis(100)).forEach(got::add);
                        return got.size() >= 10;
                    });
                    for (var r : got) {
                        Header h = r.headers().lastHeader("n");
                        out(codec + " record " + r.offset() + " key=" + r.key() + " value="
                                + r.value().length() + "B ts=" + (r.timestamp() - BASE_TS) + " "
                                + r.timestampType() + " header n=" + new String(h.value())
                                + " leaderEpoch=" + r.leaderEpoch().isPresent());
                    }
                }
            }
            TopicPartition tp = new TopicPartition("java-zstd", 0);
            Map<String, OffsetSpec> specs = new LinkedHashMap<>();
            specs.put("earliest", OffsetSpec.earliest());
            specs.put("latest", OffsetSpec.latest());
            specs.put("max-timestamp", OffsetSpec.maxTimestamp());
            specs.put("at ts+3000", OffsetSpec.forTimestamp(BASE_TS + 3000));
            specs.put("at ts+2500", OffsetSpec.forTimestamp(BASE_TS + 2500));
            specs.put("after the last", OffsetSpec.forTimestamp(BASE_TS + 200_000));
            for (var spec : specs.entrySet()) {
                var info = admin.listOffsets(Map.of(tp, spec.getValue())).partitionResult(tp).get();
                long ts = info.timestamp() < 0 ? info.timestamp() : info.timestamp() - BASE_TS;
                out("list offsets " + spec.getKey() + ": offset " + info.offset() + " ts " + ts);
            }
            var deleted = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4)))
                    .lowWatermarks().get(tp);
            out("delete records before 4: low watermark " + deleted.get().lowWatermark());
            var info = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get();
            out("earliest after delete: " + info.offset());
            out("delete records before 99: " + outcome(admin.deleteRecords(
                    Map.of(tp, RecordsToDelete.beforeOffset(99))).lowWatermarks().get(tp)));
        }
    }

    // ---- groups: eager and cooperative rebalances, static membership, committed offsets

    static final int GROUP_PARTITIONS = 6;

    /** A consumer and the partitions its rebalance listener saw revoked. */
    static final class Member {
        final KafkaConsumer<String, String> consumer;
        int revoked;

        Member(String group, String assignor, String instance) {
            Properties p = with("group.id", group,
                    "partition.assignment.strategy", assignor,
                    "enable.auto.commit", "false", "auto.offset.reset", "earliest",
                    "session.timeout.ms", "10000", "heartbeat.interval.ms", "500",
                    "key.deserializer", StringDeserializer.class.getName(),
                    "value.deserializer", StringDeserializer.class.getName());
            if (instance != null) p.put("group.instance.id", instance);
            consumer = new KafkaConsumer<>(p);
            consumer.subscribe(List.of("java-groups"), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    revoked += parts.size();
                }

                public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                }
            });
        }

        void poll() {
            consumer.poll(Duration.ofMillis(50));
        }

        /** Whether it has read every partition it owns to the end (10 records each). */
        boolean caughtUp() {
            return consumer.assignment().stream()
                    .allMatch(tp -> consumer.position(tp, Duration.ofSeconds(5)) >= 10);
        }

        int owned() {
            return consumer.assignment().size();
        }

        List<Integer> partitions() {
            return consumer.assignment().stream().map(TopicPartition::partition).sorted()
                    .collect(Collectors.toList());
        }
    }

    /** Polls the members until their assignments split the topic with none left empty. */
    static void settle(String what, Member... members) {
        until(what, () -> {
            int total = 0;
            boolean each = true;
            for (Member m : members) {
                m.poll();
                total += m.owned();
                each &= m.owned() > 0;
            }
            return total == GROUP_PARTITIONS && each;
        });
    }

    static void groups() throws Exception {
        try (Admin admin = Admin.create(base)) {
            createTopic(admin, "java-groups", GROUP_PARTITIONS, Map.of());
            Properties p = with("key.serializer", StringSerializer.class.getName(),
                    "value.serializer", StringSerializer.class.getName());
            try (Producer<String, String> producer = new KafkaProducer<>(p)) {
                for (int i = 0; i < 60; i++)
                    producer.send(new ProducerRecord<>("java-groups", i % GROUP_PARTITIONS,
                            "k" + i, "v" + i));
            }
            for (String assignor : List.of("range", "cooperative-sticky")) {
                String cls = assignor.equals("range") ? RangeAssignor.class.getName()
                        : CooperativeStickyAssignor.class.getName();
                String group = "java-" + assignor;
                Member first = new Member(group, cls, null);
                settle(assignor + ": the first member owns everything", first);
                int before = first.revoked;
                Member second = new Member(group, cls, null);
                settle(assignor + ": two members share the partitions", first, second);
                out(assignor + ": shares " + List.of(first.owned(), second.owned()).stream()
                        .sorted().collect(Collectors.toList()) + ", the first gave up "
                        + (first.revoked - before));
                until(assignor + ": each member read its partitions to the end", () -> {
                    first.poll();
                    second.poll();
                    return first.caughtUp() && second.caughtUp();
                });
                first.consumer.commitSync();
                second.consumer.commitSync();
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group))
                        .describedGroups().get(group).get();
                out(assignor + ": group " + d.groupState() + " " + d.type() + " assignor "
                        + d.partitionAssignor() + " members " + d.members().size()
                        + " simple " + d.isSimpleConsumerGroup());
                var committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                        .get();
                out(assignor + ": committed " + new TreeMap<>(committed.entrySet().stream()
                        .collect(Collectors.toMap(e -> e.getKey().partition(),
                                e -> e.getValue().offset()))));
                second.consumer.close();
                settle(assignor + ": the first member takes everything back", first);
                out(assignor + ": after the second left the first owns " + first.owned());
                first.consumer.close();
                until(assignor + ": the group empties", () -> {
                    try {
                        return admin.describeConsumerGroups(List.of(group)).describedGroups()
                                .get(group).get().groupState() == GroupState.EMPTY;
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                out(assignor + ": empty once both left");
            }
            String cls = RangeAssignor.class.getName();
            Member one = new Member("java-static", cls, "static-1");
            Member two = new Member("java-static", cls, "static-2");
            settle("static: two members share the partitions", one, two);
            List<Integer> owned = two.partitions();
            int revokedBefore = one.revoked;
            two.consumer.close();
            Member again = new Member("java-static", cls, "static-2");
            settle("static: the second member is back", one, again);
            out("static: the returning member gets its partitions back: "
                    + owned.equals(again.partitions()) + "; the other gave up "
                    + (one.revoked - revokedBefore));
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of("java-static"))
                    .describedGroups().get("java-static").get();
            out("static: instances " + d.members().stream()
                    .map(m -> m.groupInstanceId().orElse("-")).sorted()
                    .collect(Collectors.toList()));
            one.consumer.close();
            again.consumer.close();
            out("delete a group with members: " + outcome(
                    admin.deleteConsumerGroups(List.of("java-static")).all()));
            out("delete an unknown group: " + outcome(
                    admin.deleteConsumerGroups(List.of("java-nobody")).all()));
        }
    }

    // ---- admin: topic errors, configs with synonyms, partitions, quotas, SCRAM, ACLs

    static final List<String> SHOWN_CONFIGS = List.of("cleanup.policy", "retention.ms",
            "retention.bytes", "segment.bytes", "max.message.bytes", "min.insync.replicas",
            "compression.type", "message.timestamp.type");

    static Config topicConfig(Admin admin, String topic) throws Exception {
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return admin.describeConfigs(List.of(res),
                new DescribeConfigsOptions().includeSynonyms(true)).all().get().get(res);
    }

    static String describeEntry(ConfigEntry e) {
        return e.name() + "=" + e.value() + " " + e.source() + " readOnly=" + e.isReadOnly()
                + " sensitive=" + e.isSensitive() + " type=" + e.type() + " synonyms "
                + e.synonyms().stream().map(s -> s.name() + "=" + s.value() + "/" + s.source())
                .collect(Collectors.toList());
    }

    static void describeConfigs(Admin admin, String step, String topic) throws Exception {
        Config config = topicConfig(admin, topic);
        for (String name : SHOWN_CONFIGS) out(step + ": " + describeEntry(config.get(name)));
    }

    /** Every config of a new topic, as Kafka describes it, sorted by name. */
    static void topicConfigs() throws Exception {
        try (Admin admin = Admin.create(base)) {
            createTopic(admin, "java-configs", 1, Map.of());
            topicConfig(admin, "java-configs").entries().stream()
                    .sorted(Comparator.comparing(ConfigEntry::name))
                    .forEach(e -> out("config " + describeEntry(e)));
        }
    }

    static String createOutcome(Admin admin, NewTopic topic) {
        return outcome(admin.createTopics(List.of(topic)).all());
    }

    static void admin() throws Exception {
        try (Admin admin = Admin.create(base)) {
            out("create compacted: " + createOutcome(admin, new NewTopic("java-compacted", 1,
                    (short) 1).configs(Map.of("cleanup.policy", "compact"))));
            NewTopic topic = new NewTopic("java-admin", 2, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "500000"));
            out("create: " + createOutcome(admin, topic));
            out("create again: " + createOutcome(admin, topic));
            out("create with 3 replicas: "
                    + createOutcome(admin, new NewTopic("java-rf3", 1, (short) 3)));
            out("create with 0 partitions: "
                    + createOutcome(admin, new NewTopic("java-zero", 0, (short) 1)));
            out("create with an unknown config: " + createOutcome(admin,
                    new NewTopic("java-bogus", 1, (short) 1).configs(Map.of("bogus.key", "1"))));
            out("create with a bad value: " + createOutcome(admin, new NewTopic("java-badvalue",
                    1, (short) 1).configs(Map.of("retention.ms", "soon"))));
            out("create with a bad name: "
                    + createOutcome(admin, new NewTopic("bad name!", 1, (short) 1)));
            out("create validate-only: " + outcome(admin.createTopics(
                    List.of(new NewTopic("java-dry", 1, (short) 1)),
                    new CreateTopicsOptions().validateOnly(true)).all()));
            out("validate-only created nothing: "
                    + !admin.listTopics().names().get().contains("java-dry"));

            createTopic(admin, "java-wide", 5, Map.of());
            var described = admin.describeTopics(List.of("java-admin", "java-wide"),
                    new DescribeTopicsOptions().partitionSizeLimitPerResponse(3)).allTopicNames().get();
            for (var t : new TreeMap<>(described).values()) {
                out("describe " + t.name() + " internal=" + t.isInternal() + " partitions "
                        + t.partitions().stream().map(p -> p.partition() + ":" + p.replicas().size()
                        + "/" + p.isr().size() + (p.leader() == null ? " no leader" : ""))
                        .collect(Collectors.toList()));
            }
            out("describe a missing topic: " + outcome(admin.describeTopics(
                    List.of("java-missing")).allTopicNames()));

            describeConfigs(admin, "created", "java-admin");
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, "java-admin");
            Map<ConfigResource, Collection<AlterConfigOp>> ops = Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"),
                            AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("min.insync.replicas", "1"),
                            AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", ""),
                            AlterConfigOp.OpType.DELETE)));
            out("alter: " + outcome(admin.incrementalAlterConfigs(ops).all()));
            describeConfigs(admin, "altered", "java-admin");
            out("append and delete: " + outcome(admin.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"),
                            AlterConfigOp.OpType.APPEND),
                    new AlterConfigOp(new ConfigEntry("min.insync.replicas", ""),
                            AlterConfigOp.OpType.DELETE),
                    new AlterConfigOp(new ConfigEntry("retention.ms", ""),
                            AlterConfigOp.OpType.DELETE)))).all()));
            describeConfigs(admin, "appended", "java-admin");
            for (var bad : List.of(List.of("segment.bytes", "1"), List.of("no.such.config", "1"),
                    List.of("retention.ms", "soon"), List.of("cleanup.policy", "sometimes"))) {
                out("alter " + bad.get(0) + "=" + bad.get(1) + ": " + outcome(
                        admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                                new ConfigEntry(bad.get(0), bad.get(1)),
                                AlterConfigOp.OpType.SET)))).all()));
            }
            ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, "java-missing");
            out("alter a missing topic: " + outcome(admin.incrementalAlterConfigs(Map.of(missing,
                    List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "1"),
                            AlterConfigOp.OpType.SET)))).all()));
            out("describe configs of a missing topic: "
                    + outcome(admin.describeConfigs(List.of(missing)).all()));

            out("partitions to 4: " + outcome(admin.createPartitions(
                    Map.of("java-admin", NewPartitions.increaseTo(4))).all()));
            out("partitions to 2: " + outcome(admin.createPartitions(
                    Map.of("java-admin", NewPartitions.increaseTo(2))).all()));
            out("partitions of a missing topic: " + outcome(admin.createPartitions(
                    Map.of("java-missing", NewPartitions.increaseTo(2))).all()));

            ClientQuotaEntity alice = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "alice"));
            ClientQuotaEntity app = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, "app"));
            out("quotas set: " + outcome(admin.alterClientQuotas(List.of(
                    new ClientQuotaAlteration(alice, List.of(
                            new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0),
                            new ClientQuotaAlteration.Op("consumer_byte_rate", 2048.0))),
                    new ClientQuotaAlteration(app, List.of(
                            new ClientQuotaAlteration.Op("request_percentage", 50.0))))).all()));
            describeQuotas(admin, "quotas", 3);
            out("quota removed: " + outcome(admin.alterClientQuotas(List.of(
                    new ClientQuotaAlteration(alice, List.of(
                            new ClientQuotaAlteration.Op("consumer_byte_rate", null))))).all()));
            describeQuotas(admin, "quotas after removal", 2);
            out("quota with an unknown key: " + outcome(admin.alterClientQuotas(List.of(
                    new ClientQuotaAlteration(alice, List.of(
                            new ClientQuotaAlteration.Op("bogus_rate", 1.0))))).all()));

            out("scram upsert of one user twice in a request: " + outcome(
                    admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion("carol",
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "pw1"),
                    new UserScramCredentialUpsertion("carol",
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "pw2")))
                    .all()));
            for (var m : List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)) {
                int iterations = m == ScramMechanism.SCRAM_SHA_256 ? 8192 : 4096;
                out("scram upsert " + m + ": " + outcome(admin.alterUserScramCredentials(List.of(
                        new UserScramCredentialUpsertion("alice",
                                new ScramCredentialInfo(m, iterations), "pw-" + m))).all()));
            }
            describeScram(admin, "scram", 2);
            out("scram with too few iterations: " + outcome(admin.alterUserScramCredentials(
                    List.of(new UserScramCredentialUpsertion("bob",
                            new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), "pw")))
                    .all()));
            out("scram delete: " + outcome(admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256))).all()));
            describeScram(admin, "scram after delete", 1);
            out("scram of an unknown user: " + outcome(admin.describeUserScramCredentials(
                    List.of("nobody")).description("nobody")));
            out("scram delete of an unknown credential: " + outcome(admin.alterUserScramCredentials(
                    List.of(new UserScramCredentialDeletion("nobody", ScramMechanism.SCRAM_SHA_512)))
                    .all()));

            out("acls without an authorizer: "
                    + outcome(admin.describeAcls(AclBindingFilter.ANY).values()));

            var cluster = admin.describeCluster();
            Collection<Node> nodes = cluster.nodes().get();
            Node controller = cluster.controller().get();
            out("cluster: " + nodes.size() + " node(s), the controller among them: "
                    + nodes.stream().anyMatch(n -> n.id() == controller.id()));
            out("delete topic: " + outcome(admin.deleteTopics(List.of("java-admin")).all()));
            out("delete a missing topic: "
                    + outcome(admin.deleteTopics(List.of("java-missing")).all()));
        }
    }

    /** Kafka serves these from metadata the controller propagates: a change shows once
     *  the described values number `values`. */
    static void describeQuotas(Admin admin, String step, int values) {
        TreeMap<String, String> shown = new TreeMap<>();
        until(step, () -> {
            shown.clear();
            var all = get(admin.describeClientQuotas(ClientQuotaFilter.all()).entities());
            all.forEach((entity, v) -> shown.put(new TreeMap<>(entity.entries()).toString(),
                    new TreeMap<>(v).toString()));
            return all.values().stream().mapToInt(Map::size).sum() == values;
        });
        out(step + ": " + shown);
    }

    static void describeScram(Admin admin, String step, int credentials) {
        TreeMap<String, List<String>> shown = new TreeMap<>();
        until(step, () -> {
            shown.clear();
            get(admin.describeUserScramCredentials().all()).forEach((user, d) -> shown.put(user,
                    d.credentialInfos().stream().map(i -> i.mechanism() + "/" + i.iterations())
                            .sorted().collect(Collectors.toList())));
            return shown.values().stream().mapToInt(List::size).sum() == credentials;
        });
        out(step + ": " + shown);
    }

    static <T> T get(KafkaFuture<T> f) {
        try {
            return f.get();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
