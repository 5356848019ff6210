import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Drives the Apache Kafka Java client (kafka-clients) for the compatibility suite in test/compat.
 * One JVM serves a whole run: every line on stdin is a JSON request (an operation and its
 * arguments, the same JSON as clients/pyclient.py), answered by one JSON line on stdout. Each
 * operation builds its own producer, consumer or admin client and closes it. Records carry base64
 * keys, values and header values (null stays null); a failure answers {"error": "..."}.
 */
public final class CompatDriver {
    private final Map<String, Object> req;
    private final long deadline;

    private CompatDriver(Map<String, Object> req) {
        this.req = req;
        double seconds = req.containsKey("timeout") ? ((Number) req.get("timeout")).doubleValue() : 30;
        this.deadline = System.currentTimeMillis() + (long) (seconds * 1000);
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            Object resp;
            try {
                resp = new CompatDriver((Map<String, Object>) Json.parse(line)).run();
            } catch (Throwable e) {
                resp = Map.of("error", describe(e));
            }
            System.out.println(Json.write(resp));
            System.out.flush();
        }
    }

    /** describe names the exception and its causes; a future's wrapper says nothing of its own. */
    private static String describe(Throwable e) {
        while (e instanceof ExecutionException && e.getCause() != null) {
            e = e.getCause();
        }
        StringBuilder b = new StringBuilder(e.getClass().getSimpleName() + ": " + e.getMessage());
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            b.append("; caused by ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return b.toString();
    }

    private Object run() throws Exception {
        String op = str("op");
        switch (op) {
            case "version":
                return Map.of("version", "kafka-clients " + AppInfoParser.getVersion() + " (built from source), OpenJDK "
                        + System.getProperty("java.version"));
            case "produce": return produce();
            case "consume": return Map.of("records", consume());
            case "group_consume": return Map.of("records", groupConsume());
            case "txn_produce": return txnProduce();
            case "txn_pipeline": return txnPipeline();
            case "read_committed": return Map.of("values", readCommitted());
            default:
        }
        try (Admin admin = Admin.create(common())) {
            switch (op) {
                case "create_topic": {
                    List<List<Integer>> sets = assignment();
                    NewTopic nt;
                    if (sets.isEmpty()) {
                        nt = new NewTopic(str("topic"), (int) num("partitions"), (short) 3);
                    } else {
                        Map<Integer, List<Integer>> byPartition = new HashMap<>();
                        for (int i = 0; i < sets.size(); i++) byPartition.put(i, sets.get(i));
                        nt = new NewTopic(str("topic"), byPartition);
                    }
                    admin.createTopics(List.of(nt)).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                }
                case "describe_topic": {
                    TopicDescription td = admin.describeTopics(List.of(str("topic"))).allTopicNames().get(left(), TimeUnit.MILLISECONDS).get(str("topic"));
                    return Map.of("name", td.name(), "leaders", leaders(td));
                }
                case "describe_topic_id": {
                    Uuid id = Uuid.fromString(str("id"));
                    TopicDescription td = admin.describeTopics(TopicCollection.ofTopicIds(List.of(id))).allTopicIds().get(left(), TimeUnit.MILLISECONDS).get(id);
                    return Map.of("name", td.name(), "leaders", leaders(td));
                }
                case "create_partitions":
                    List<List<Integer>> sets = assignment();
                    NewPartitions np = sets.isEmpty() ? NewPartitions.increaseTo((int) num("total")) : NewPartitions.increaseTo((int) num("total"), sets);
                    admin.createPartitions(Map.of(str("topic"), np)).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                case "delete_topic":
                    admin.deleteTopics(TopicCollection.ofTopicNames(List.of(str("topic")))).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                case "delete_topic_id":
                    admin.deleteTopics(TopicCollection.ofTopicIds(List.of(Uuid.fromString(str("id"))))).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                case "offset_for_time": {
                    TopicPartition tp = new TopicPartition(str("topic"), (int) num("partition"));
                    long o = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(num("ts")))).partitionResult(tp).get(left(), TimeUnit.MILLISECONDS).offset();
                    return Map.of("offset", o);
                }
                case "alter_topic_config": {
                    ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, str("topic"));
                    AlterConfigOp set = new AlterConfigOp(new ConfigEntry(str("key"), str("value")), AlterConfigOp.OpType.SET);
                    admin.incrementalAlterConfigs(Map.of(r, List.of(set))).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                }
                case "describe_topic_config": {
                    ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, str("topic"));
                    Config c = admin.describeConfigs(List.of(r)).all().get(left(), TimeUnit.MILLISECONDS).get(r);
                    ConfigEntry e = c.get(str("key"));
                    if (e == null) {
                        throw new IllegalStateException("no " + str("key") + " among " + c.entries().size() + " described configs");
                    }
                    return Map.of("value", e.value());
                }
                case "alter_quota": {
                    ClientQuotaEntity e = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, str("client_id")));
                    Double v = Boolean.TRUE.equals(req.get("remove")) ? null : ((Number) req.get("quota_value")).doubleValue();
                    admin.alterClientQuotas(List.of(new ClientQuotaAlteration(e, List.of(new ClientQuotaAlteration.Op(str("key"), v)))))
                            .all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                }
                case "describe_quotas": {
                    ClientQuotaFilter f = ClientQuotaFilter.containsOnly(List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, str("client_id"))));
                    Map<String, Double> values = new TreeMap<>();
                    admin.describeClientQuotas(f).entities().get(left(), TimeUnit.MILLISECONDS).values().forEach(values::putAll);
                    return Map.of("values", values);
                }
                case "describe_quorum": {
                    QuorumInfo q = admin.describeMetadataQuorum().quorumInfo().get(left(), TimeUnit.MILLISECONDS);
                    List<Integer> voters = new ArrayList<>();
                    q.voters().forEach(v -> voters.add(v.replicaId()));
                    return Map.of("leader", q.leaderId(), "epoch", q.leaderEpoch(), "voters", voters);
                }
                case "delete_records": {
                    TopicPartition tp = new TopicPartition(str("topic"), (int) num("partition"));
                    long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(num("before")))).lowWatermarks().get(tp)
                            .get(left(), TimeUnit.MILLISECONDS).lowWatermark();
                    return Map.of("low_watermark", low);
                }
                case "list_groups": {
                    List<String> ids = new ArrayList<>();
                    for (ConsumerGroupListing g : admin.listConsumerGroups().all().get(left(), TimeUnit.MILLISECONDS)) {
                        ids.add(g.groupId());
                    }
                    return Map.of("groups", ids);
                }
                case "describe_group": return describeGroup(admin);
                case "group_offsets": {
                    Map<String, Long> out = new TreeMap<>();
                    admin.listConsumerGroupOffsets(str("group")).partitionsToOffsetAndMetadata().get(left(), TimeUnit.MILLISECONDS).forEach((tp, om) -> {
                        if (tp.topic().equals(str("topic")) && om != null) {
                            out.put(String.valueOf(tp.partition()), om.offset());
                        }
                    });
                    return Map.of("offsets", out);
                }
                case "alter_group_offsets": {
                    Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                    map("offsets").forEach((p, o) -> offs.put(new TopicPartition(str("topic"), Integer.parseInt(p)), new OffsetAndMetadata(((Number) o).longValue())));
                    admin.alterConsumerGroupOffsets(str("group"), offs).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                }
                case "delete_group":
                    admin.deleteConsumerGroups(List.of(str("group"))).all().get(left(), TimeUnit.MILLISECONDS);
                    return Map.of();
                default:
                    throw new IllegalArgumentException("unknown op " + op);
            }
        }
    }

    private String str(String k) {
        return (String) req.get(k);
    }

    private long num(String k) {
        return ((Number) req.get(k)).longValue();
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> map(String k) {
        return (Map<String, Object>) req.get(k);
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> list(String k) {
        Object l = req.get(k);
        return l == null ? List.of() : (List<Map<String, Object>>) l;
    }

    /** assignment is the request's replica sets, one per (new) partition; empty when absent. */
    @SuppressWarnings("unchecked")
    private List<List<Integer>> assignment() {
        List<List<Integer>> sets = new ArrayList<>();
        Object l = req.get("assignment");
        for (Object set : l == null ? List.of() : (List<Object>) l) {
            List<Integer> ids = new ArrayList<>();
            for (Object id : (List<Object>) set) ids.add(((Number) id).intValue());
            sets.add(ids);
        }
        return sets;
    }

    /** left is the time to the request's deadline, in ms, at least one second. */
    private long left() {
        return Math.max(1000, deadline - System.currentTimeMillis());
    }

    @SuppressWarnings("unchecked")
    private Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", String.join(",", (List<String>) req.get("bootstrap")));
        p.put("client.id", str("client_id"));
        int timeout = (int) Math.min(30000, left() / 2);
        p.put("request.timeout.ms", String.valueOf(timeout));
        p.put("default.api.timeout.ms", String.valueOf(timeout));
        // Client properties of the run, such as security.protocol and ssl.*.
        Object extra = req.get("props");
        if (extra != null) {
            p.putAll((Map<String, Object>) extra);
        }
        return p;
    }

    private static Map<String, Integer> leaders(TopicDescription td) {
        Map<String, Integer> out = new TreeMap<>();
        for (TopicPartitionInfo p : td.partitions()) {
            out.put(String.valueOf(p.partition()), p.leader() == null ? -1 : p.leader().id());
        }
        return out;
    }

    private static byte[] unb64(Object s) {
        return s == null ? null : Base64.getDecoder().decode((String) s);
    }

    private static String b64(byte[] b) {
        return b == null ? null : Base64.getEncoder().encodeToString(b);
    }

    private Object produce() throws Exception {
        Properties p = common();
        long acks = num("acks");
        p.put("acks", acks == -1 ? "all" : String.valueOf(acks));
        p.put("compression.type", str("codec"));
        p.put("enable.idempotence", String.valueOf(Boolean.TRUE.equals(req.get("idempotent"))));
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", String.valueOf(Integer.parseInt(p.getProperty("request.timeout.ms")) + 5));
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (Map<String, Object> r : list("records")) {
                RecordHeaders hs = new RecordHeaders();
                Object h = r.get("h");
                if (h != null) {
                    for (Object o : (List<?>) h) {
                        Map<?, ?> hm = (Map<?, ?>) o;
                        hs.add((String) hm.get("k"), unb64(hm.get("v")));
                    }
                }
                long ts = ((Number) r.get("ts")).longValue();
                sent.add(pr.send(new ProducerRecord<>(str("topic"), ((Number) r.get("p")).intValue(), ts == 0 ? null : ts,
                        unb64(r.get("k")), unb64(r.get("v")), hs)));
            }
            pr.flush();
            for (Future<RecordMetadata> f : sent) {
                f.get(left(), TimeUnit.MILLISECONDS);
            }
        }
        return Map.of();
    }

    private Properties consumer() {
        Properties p = common();
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return p;
    }

    private static Map<String, Object> record(ConsumerRecord<byte[], byte[]> m) {
        List<Object> hs = new ArrayList<>();
        for (Header h : m.headers()) {
            Map<String, Object> hm = new LinkedHashMap<>();
            hm.put("k", h.key());
            hm.put("v", b64(h.value()));
            hs.add(hm);
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("p", m.partition());
        r.put("o", m.offset());
        r.put("k", b64(m.key()));
        r.put("v", b64(m.value()));
        r.put("h", hs);
        r.put("ts", m.timestamp());
        return r;
    }

    private List<Object> consume() {
        Map<Integer, Long> to = new HashMap<>();
        List<Object> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (Map<String, Object> r : list("ranges")) {
                long from = ((Number) r.get("from")).longValue(), end = ((Number) r.get("to")).longValue();
                if (end > from) {
                    int p = ((Number) r.get("p")).intValue();
                    to.put(p, end);
                    tps.add(new TopicPartition(str("topic"), p));
                }
            }
            c.assign(tps);
            for (Map<String, Object> r : list("ranges")) {
                int p = ((Number) r.get("p")).intValue();
                if (to.containsKey(p)) {
                    c.seek(new TopicPartition(str("topic"), p), ((Number) r.get("from")).longValue());
                }
            }
            while (!to.isEmpty() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    Long end = to.get(m.partition());
                    if (end == null || m.offset() >= end) {
                        continue;
                    }
                    out.add(record(m));
                    if (m.offset() >= end - 1) {
                        to.remove(m.partition());
                    }
                }
            }
        }
        if (!to.isEmpty()) {
            throw new IllegalStateException("partitions " + to + " not read to their end");
        }
        return out;
    }

    private List<Object> groupConsume() {
        Properties p = consumer();
        p.put("group.id", str("group"));
        p.put("auto.offset.reset", "earliest");
        if (req.containsKey("protocol")) {
            // "consumer": KIP-848, the broker assigns (ConsumerGroupHeartbeat).
            p.put("group.protocol", str("protocol"));
        }
        List<Object> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(str("topic")));
            while (out.size() < num("want") && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    out.add(record(m));
                }
            }
            c.commitSync(Duration.ofMillis(left()));
        }
        return out;
    }

    private Object describeGroup(Admin admin) throws Exception {
        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(str("group"))).describedGroups().get(str("group"))
                .get(left(), TimeUnit.MILLISECONDS);
        List<Object> members = new ArrayList<>();
        for (MemberDescription m : d.members()) {
            Map<String, List<Integer>> assigned = new TreeMap<>();
            for (TopicPartition tp : m.assignment().topicPartitions()) {
                assigned.computeIfAbsent(tp.topic(), t -> new ArrayList<>()).add(tp.partition());
            }
            members.add(Map.of("client_id", m.clientId(), "assigned", assigned));
        }
        return Map.of("state", d.state().toString(), "members", members);
    }

    private Properties txnProducer() {
        Properties p = common();
        p.put("transactional.id", str("transactional_id"));
        p.put("transaction.timeout.ms", "30000");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    /** txnProduce runs transactions of text values on a topic, each committed or aborted as asked. */
    private Object txnProduce() throws Exception {
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(txnProducer())) {
            pr.initTransactions();
            for (Map<String, Object> t : list("transactions")) {
                pr.beginTransaction();
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (Object v : (List<?>) t.get("values")) {
                    sent.add(pr.send(new ProducerRecord<>(str("topic"), ((String) v).getBytes(StandardCharsets.UTF_8))));
                }
                pr.flush();
                for (Future<RecordMetadata> f : sent) {
                    f.get(left(), TimeUnit.MILLISECONDS);
                }
                if (Boolean.TRUE.equals(t.get("commit"))) {
                    pr.commitTransaction();
                } else {
                    pr.abortTransaction();
                }
            }
        }
        return Map.of();
    }

    /**
     * txnPipeline consumes "in" in a group under read_committed and writes each value, prefixed
     * "out-", to "out" in a transaction that also commits the consumed offsets
     * (sendOffsetsToTransaction), until it has processed "want" records.
     */
    private Object txnPipeline() throws Exception {
        Properties cp = consumer();
        cp.put("group.id", str("group"));
        cp.put("auto.offset.reset", "earliest");
        cp.put("isolation.level", "read_committed");
        int done = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp);
             KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(txnProducer())) {
            pr.initTransactions();
            c.subscribe(List.of(str("in")));
            while (done < num("want") && System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(200));
                if (recs.isEmpty()) {
                    continue;
                }
                pr.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> m : recs) {
                    byte[] v = ("out-" + new String(m.value(), StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8);
                    pr.send(new ProducerRecord<>(str("out"), v));
                    offsets.put(new TopicPartition(m.topic(), m.partition()), new OffsetAndMetadata(m.offset() + 1));
                }
                pr.sendOffsetsToTransaction(offsets, c.groupMetadata());
                pr.commitTransaction();
                done += recs.count();
            }
        }
        return Map.of("processed", done);
    }

    /** readCommitted reads a whole topic under read_committed, up to each partition's last stable offset. */
    private List<Object> readCommitted() {
        Properties cp = consumer();
        cp.put("isolation.level", "read_committed");
        List<Object> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (org.apache.kafka.common.PartitionInfo pi : c.partitionsFor(str("topic"), Duration.ofMillis(left()))) {
                tps.add(new TopicPartition(pi.topic(), pi.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofMillis(left()));
            while (System.currentTimeMillis() < deadline) {
                boolean all = true;
                for (TopicPartition tp : tps) {
                    all &= c.position(tp, Duration.ofMillis(left())) >= end.get(tp);
                }
                if (all) {
                    return out;
                }
                for (ConsumerRecord<byte[], byte[]> m : c.poll(Duration.ofMillis(200))) {
                    out.add(new String(m.value(), StandardCharsets.UTF_8));
                }
            }
        }
        throw new IllegalStateException("not read to the last stable offsets before the deadline");
    }
}
