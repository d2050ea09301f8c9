// The "secured" scenario: a broker with SASL/SCRAM-SHA-512 on its client listener and an
// authorizer, `admin` its super user. The admin creates the user alice and grants her
// one topic and one group; alice's clients then meet every refusal Kafka gives a
// principal without the right ACL, and a wrong password is refused at login. Prints
// what each client saw, one fact per line, as Scenarios does.

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.resource.*;
import org.apache.kafka.common.serialization.*;

final class Secured {
    static final String ALICE_PASSWORD = "alice-secret-1";
    static final String GRANTED = "granted";
    static final String FORBIDDEN = "forbidden";
    static final String ALICE_GROUP = "alice-group";

    private Secured() {}

    static String jaas(String user, String password) {
        return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";";
    }

    /** The client settings as alice, with `password`. */
    static Properties alice(String password, String... kv) {
        Properties p = Scenarios.with(kv);
        p.put("sasl.jaas.config", jaas("alice", password));
        return p;
    }

    /** The error class a call ends with, or "ok". */
    static String attempt(Callable call) {
        try {
            call.run();
            return "ok";
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (KafkaException e) {
            return e.getClass().getSimpleName();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    interface Callable {
        void run() throws Exception;
    }

    static void run() throws Exception {
        try (Admin admin = Admin.create(Scenarios.with())) {
            for (String topic : List.of(GRANTED, FORBIDDEN)) {
                Scenarios.createTopic(admin, topic, 1, Map.of());
            }
            ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096);
            Scenarios.out("admin creates alice: " + Scenarios.outcome(admin.alterUserScramCredentials(
                    List.of(new UserScramCredentialUpsertion("alice", info, ALICE_PASSWORD))).all()));
            List<AclBinding> grants = new ArrayList<>();
            for (AclOperation op : List.of(AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)) {
                grants.add(allow(ResourceType.TOPIC, GRANTED, op));
            }
            grants.add(allow(ResourceType.GROUP, ALICE_GROUP, AclOperation.READ));
            Scenarios.out("admin grants: " + Scenarios.outcome(admin.createAcls(grants).all()));
            Scenarios.until("alice can log in", () -> attempt(() -> {
                try (Admin a = Admin.create(alice(ALICE_PASSWORD))) {
                    a.describeCluster().clusterId().get();
                }
            }).equals("ok"));
            Scenarios.until("alice's grants apply", () -> attempt(() -> {
                try (Admin a = Admin.create(alice(ALICE_PASSWORD))) {
                    a.describeTopics(List.of(GRANTED)).allTopicNames().get();
                }
            }).equals("ok"));
            producing();
            consuming();
            administering();
            Scenarios.out("admin sees the bindings: " + get(admin.describeAcls(AclBindingFilter.ANY).values())
                    .stream().map(Secured::binding).sorted().collect(Collectors.joining("; ")));
            AclBindingFilter groupGrant = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.GROUP, ALICE_GROUP, PatternType.LITERAL),
                    AccessControlEntryFilter.ANY);
            Scenarios.out("admin deletes the group grant: "
                    + get(admin.deleteAcls(List.of(groupGrant)).all()).size());
        }
        Properties wrong = alice("not-her-password", "request.timeout.ms", "10000");
        try (Admin a = Admin.create(wrong)) {
            try {
                a.describeCluster().clusterId().get();
                Scenarios.out("wrong password: accepted");
            } catch (ExecutionException e) {
                Scenarios.out("wrong password: " + e.getCause().getClass().getSimpleName() + ": "
                        + e.getCause().getMessage());
            }
        }
    }

    static AclBinding allow(ResourceType type, String name, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, PatternType.LITERAL),
                new AccessControlEntry("User:alice", "*", op, AclPermissionType.ALLOW));
    }

    static String binding(AclBinding b) {
        return b.pattern().resourceType() + ":" + b.pattern().name() + " " + b.entry().principal()
                + " " + b.entry().operation() + " " + b.entry().permissionType();
    }

    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get();
    }

    static void producing() {
        Properties p = alice(ALICE_PASSWORD, "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName(), "max.block.ms", "10000",
                "enable.idempotence", "false", "acks", "all");
        try (Producer<String, String> producer = new KafkaProducer<>(p)) {
            for (String topic : List.of(GRANTED, FORBIDDEN)) {
                Scenarios.out("alice produces to " + topic + ": " + attempt(() ->
                        producer.send(new ProducerRecord<>(topic, "k", "v")).get()));
            }
        }
    }

    static void consuming() {
        for (String group : List.of(ALICE_GROUP, "someone-elses-group")) {
            Properties p = alice(ALICE_PASSWORD, "group.id", group,
                    "key.deserializer", StringDeserializer.class.getName(),
                    "value.deserializer", StringDeserializer.class.getName(),
                    "enable.auto.commit", "false");
            try (Consumer<String, String> consumer = new KafkaConsumer<>(p)) {
                TopicPartition tp = new TopicPartition(GRANTED, 0);
                consumer.assign(List.of(tp));
                consumer.seek(tp, 0);
                int[] seen = {0};
                Scenarios.until("alice reads her record", () -> {
                    seen[0] += consumer.poll(Duration.ofMillis(200)).count();
                    return seen[0] > 0;
                });
                Scenarios.out("alice reads " + GRANTED + ": " + seen[0] + " record(s)");
                Scenarios.out("alice commits in " + group + ": " + attempt(() ->
                        consumer.commitSync(Map.of(tp, new OffsetAndMetadata(1)))));
            }
        }
        Properties p = alice(ALICE_PASSWORD, "group.id", ALICE_GROUP,
                "key.deserializer", StringDeserializer.class.getName(),
                "value.deserializer", StringDeserializer.class.getName(),
                "default.api.timeout.ms", "10000");
        try (Consumer<String, String> consumer = new KafkaConsumer<>(p)) {
            consumer.assign(List.of(new TopicPartition(FORBIDDEN, 0)));
            Scenarios.out("alice reads " + FORBIDDEN + ": " + attempt(() ->
                    consumer.poll(Duration.ofSeconds(5))));
        }
    }

    static void administering() throws Exception {
        try (Admin a = Admin.create(alice(ALICE_PASSWORD))) {
            Scenarios.out("alice lists topics: " + new TreeSet<>(get(a.listTopics().names())));
            Scenarios.out("alice describes " + FORBIDDEN + ": "
                    + Scenarios.outcome(a.describeTopics(List.of(FORBIDDEN)).allTopicNames()));
            Scenarios.out("alice creates a topic: " + Scenarios.outcome(
                    a.createTopics(List.of(new NewTopic("alices-own", 1, (short) 1))).all()));
            Scenarios.out("alice deletes " + GRANTED + ": "
                    + Scenarios.outcome(a.deleteTopics(List.of(GRANTED)).all()));
            ConfigResource granted = new ConfigResource(ConfigResource.Type.TOPIC, GRANTED);
            Scenarios.out("alice describes configs of " + GRANTED + ": "
                    + Scenarios.outcome(a.describeConfigs(List.of(granted)).all()));
            Scenarios.out("alice alters configs of " + GRANTED + ": " + Scenarios.outcome(
                    a.incrementalAlterConfigs(Map.of(granted, List.of(new AlterConfigOp(
                            new ConfigEntry("retention.ms", "60000"), AlterConfigOp.OpType.SET)))).all()));
            Scenarios.out("alice deletes records of " + GRANTED + ": " + Scenarios.outcome(
                    a.deleteRecords(Map.of(new TopicPartition(GRANTED, 0),
                            RecordsToDelete.beforeOffset(1))).all()));
            Scenarios.out("alice describes ACLs: "
                    + Scenarios.outcome(a.describeAcls(AclBindingFilter.ANY).values()));
            Scenarios.out("alice grants herself: " + Scenarios.outcome(a.createAcls(List.of(
                    allow(ResourceType.TOPIC, FORBIDDEN, AclOperation.READ))).all()));
            Scenarios.out("alice describes SCRAM users: "
                    + Scenarios.outcome(a.describeUserScramCredentials().all()));
            Scenarios.out("alice describes quotas: " + Scenarios.outcome(
                    a.describeClientQuotas(org.apache.kafka.common.quota.ClientQuotaFilter.all()).entities()));
            Scenarios.out("alice lists groups: " + Scenarios.outcome(a.listConsumerGroups().all()));
            Scenarios.out("alice describes the cluster: "
                    + Scenarios.outcome(a.describeCluster().clusterId()));
        }
    }
}
