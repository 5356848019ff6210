import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Runs the cells of the security matrix (test/compat/security_matrix_test.go) for the Java client
 * in one JVM: stdin is one JSON array of cells, each answered by one JSON line on stdout as it
 * finishes (cells run concurrently, each with its own producer, consumer or admin client). An
 * answer carries the records read back, or the failure with the Kafka error code the client's
 * exception stands for (Errors.forException), as {"id", "records"} or {"id", "code", "name",
 * "error"}. The argument "version" prints the client's version instead.
 */
public final class SecMatrix {
    private final Map<String, Object> cell;
    private final long deadline;

    private SecMatrix(Map<String, Object> cell) {
        this.cell = cell;
        this.deadline = System.currentTimeMillis() + num("timeout_ms");
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("version")) {
            System.out.println(Json.write(Map.of("version", "kafka-clients " + AppInfoParser.getVersion() + ", OpenJDK "
                    + System.getProperty("java.version"))));
            return;
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<Object> cells = (List<Object>) Json.parse(in.readLine());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        for (Object c : cells) {
            pool.submit(() -> {
                long began = System.currentTimeMillis();
                SecMatrix m = new SecMatrix((Map<String, Object>) c);
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("id", m.str("id"));
                try {
                    out.put("records", m.run());
                } catch (Throwable e) {
                    out.put("code", code(e));
                    out.put("name", root(e).getClass().getSimpleName());
                    out.put("error", describe(e));
                }
                out.put("ms", System.currentTimeMillis() - began);
                synchronized (System.out) {
                    System.out.println(Json.write(out));
                    System.out.flush();
                }
            });
        }
        pool.shutdown();
        pool.awaitTermination(10, TimeUnit.MINUTES);
    }

    /** root is the first ApiException among e and its causes, else the innermost cause. */
    private static Throwable root(Throwable e) {
        Throwable last = e;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ApiException) {
                return c;
            }
            last = c;
        }
        return last;
    }

    /** code is the Kafka error code the exception stands for; -1 (UNKNOWN_SERVER_ERROR) when none. */
    private static int code(Throwable e) {
        Throwable r = root(e);
        return r instanceof ApiException ? Errors.forException(r).code() : -1;
    }

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

    private String str(String k) {
        Object v = cell.get(k);
        return v == null ? "" : (String) v;
    }

    private long num(String k) {
        return ((Number) cell.get(k)).longValue();
    }

    private long left() {
        return Math.max(500, deadline - System.currentTimeMillis());
    }

    /** common are the connection's properties: the listener's protocol, TLS files and SASL login. */
    private Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", str("bootstrap"));
        p.put("client.id", str("client_id"));
        p.put("security.protocol", str("protocol"));
        int timeout = (int) Math.min(15000, left());
        p.put("request.timeout.ms", String.valueOf(timeout));
        p.put("default.api.timeout.ms", String.valueOf(timeout));
        p.put("reconnect.backoff.max.ms", "200");
        // A TLS and SASL handshake on two loaded cores can take longer than the default 10 s.
        p.put("socket.connection.setup.timeout.ms", "20000");
        if (!str("ca_file").isEmpty()) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", str("ca_file"));
        }
        if (!str("keystore").isEmpty()) {
            p.put("ssl.keystore.type", "PEM");
            p.put("ssl.keystore.location", str("keystore"));
        }
        if (!str("mechanism").isEmpty()) {
            String module = str("mechanism").equals("PLAIN") ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                    : "org.apache.kafka.common.security.scram.ScramLoginModule";
            p.put("sasl.mechanism", str("mechanism"));
            p.put("sasl.jaas.config", module + " required username=\"" + str("user") + "\" password=\"" + str("password") + "\";");
        }
        return p;
    }

    private Properties producerProps() {
        Properties p = common();
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("max.block.ms", String.valueOf(left()));
        p.put("delivery.timeout.ms", String.valueOf(Math.max(left(), Integer.parseInt(p.getProperty("request.timeout.ms")) + 5)));
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return p;
    }

    private Properties consumerProps() {
        Properties p = common();
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return p;
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> records() {
        return (List<Map<String, Object>>) cell.get("records");
    }

    private Object run() throws Exception {
        switch (str("kind")) {
            case "roundtrip":
            case "reauth":
                return roundTrip();
            case "auth_fail":
            case "no_tls":
            case "deny_topic": {
                // Closed without waiting: the producer has nothing it could deliver.
                // One record: each send waits up to max.block.ms for metadata.
                KafkaProducer<String, String> pr = new KafkaProducer<>(producerProps());
                try {
                    send(pr, records().subList(0, 1));
                } finally {
                    pr.close(Duration.ZERO);
                }
                throw new IllegalStateException("produce succeeded");
            }
            case "deny_group":
                groupPoll();
                throw new IllegalStateException("the group consumer was assigned partitions");
            case "deny_cluster":
                try (Admin a = Admin.create(common())) {
                    a.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.BROKER, "1"))).all().get(left(), TimeUnit.MILLISECONDS);
                }
                throw new IllegalStateException("DescribeConfigs of broker 1 succeeded");
            case "deny_txn": {
                Properties p = producerProps();
                p.put("transactional.id", str("txn_id"));
                KafkaProducer<String, String> pr = new KafkaProducer<>(p);
                try {
                    pr.initTransactions();
                } finally {
                    pr.close(Duration.ZERO);
                }
                throw new IllegalStateException("initTransactions succeeded");
            }
            default:
                throw new IllegalArgumentException("unknown kind " + str("kind"));
        }
    }

    /** send sends records to partition 0 and waits for every acknowledgement. */
    private void send(KafkaProducer<String, String> pr, List<Map<String, Object>> recs) throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (Map<String, Object> r : recs) {
            sent.add(pr.send(new ProducerRecord<>(str("topic"), 0, (String) r.get("k"), (String) r.get("v"))));
        }
        pr.flush();
        for (Future<RecordMetadata> f : sent) {
            f.get(left(), TimeUnit.MILLISECONDS);
        }
    }

    /**
     * roundTrip produces the cell's records with one producer (a reauth cell pauses half-way,
     * past the broker's session lifetime) and reads the topic from its start until it has seen
     * every one of them; it returns the records whose keys carry the cell's id.
     */
    private List<Map<String, Object>> roundTrip() throws Exception {
        List<Map<String, Object>> recs = records();
        try (KafkaProducer<String, String> pr = new KafkaProducer<>(producerProps())) {
            if (str("kind").equals("reauth")) {
                int half = recs.size() / 2;
                send(pr, recs.subList(0, half));
                Thread.sleep(num("pause_ms"));
                send(pr, recs.subList(half, recs.size()));
            } else {
                send(pr, recs);
            }
        }
        List<Map<String, Object>> out = new ArrayList<>();
        String prefix = str("id") + "/";
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps())) {
            TopicPartition tp = new TopicPartition(str("topic"), 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            while (out.size() < recs.size()) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("read back " + out.size() + " of " + recs.size() + " records before the deadline");
                }
                for (ConsumerRecord<String, String> m : c.poll(Duration.ofMillis(200))) {
                    if (m.key() != null && m.key().startsWith(prefix)) {
                        Map<String, Object> r = new LinkedHashMap<>();
                        r.put("k", m.key());
                        r.put("v", m.value());
                        out.add(r);
                    }
                }
            }
        }
        return out;
    }

    /** groupPoll joins the cell's group on the topic and polls until it has partitions or fails. */
    private void groupPoll() {
        Properties p = consumerProps();
        p.put("group.id", str("group"));
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(str("topic")));
            while (c.assignment().isEmpty()) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("no partitions assigned and no error before the deadline");
                }
                c.poll(Duration.ofMillis(200));
            }
        }
    }
}
