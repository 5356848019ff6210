import java.io.InputStream;
import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client's producer for TestClientFailoverFigures: sends one
 * acks=all record to every partition each 20 ms and prints
 * "A partition sent_unix_ns acked_unix_ns" per acknowledgement, "E partition
 * error" per failed record, until its stdin closes (or 30 minutes, a bound
 * for a test that dies without closing it). args: bootstrap topic
 * partitions defaults|fast; fast sets what docs/OPERATIONS.md advises.
 */
public final class FailoverProducer {
    public static void main(String[] args) throws Exception {
        // Retries after NOT_LEADER_OR_FOLLOWER are expected here; warnings about
        // each would drown the figures.
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka", "error");
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("acks", "all");
        p.put("enable.idempotence", "true");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        if (args[3].equals("fast")) {
            p.put("retry.backoff.ms", "50");
            p.put("retry.backoff.max.ms", "200");
            p.put("reconnect.backoff.ms", "50");
            p.put("reconnect.backoff.max.ms", "500");
            p.put("delivery.timeout.ms", "30000");
        }
        String topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        AtomicBoolean stop = new AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try (InputStream in = System.in) {
                while (in.read() >= 0) {
                    // Only the end of input matters.
                }
            } catch (Exception e) {
                // Closed: stop all the same.
            }
            stop.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        long end = System.nanoTime() + 30L * 60 * 1_000_000_000L;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (long n = 0; !stop.get() && System.nanoTime() < end; n++) {
                for (int part = 0; part < partitions; part++) {
                    final int q = part;
                    final long sent = nanos();
                    producer.send(new ProducerRecord<>(topic, part, null, "r" + n), (md, err) -> {
                        if (err != null) {
                            System.out.println("E " + q + " " + err);
                        } else {
                            System.out.println("A " + q + " " + sent + " " + nanos());
                        }
                    });
                }
                Thread.sleep(20);
            }
        }
    }

    private static long nanos() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }
}
