import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a KIP-848 consumer group (group.protocol=consumer) for the
 * integration tests: prints "R partition offset value" per record, commits
 * after every poll that returned records (a failed commit is logged and
 * the next covers it), and leaves the group (epoch -1)
 * when its stdin closes.
 */
public final class GroupMember848 {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("group.id", args[1]);
        p.put("group.protocol", "consumer");
        p.put("client.id", "java848-" + ProcessHandle.current().pid());
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
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
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(args[2]));
            while (!stop.get()) {
                int n = 0;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    System.out.println("R " + r.partition() + " " + r.offset() + " " + r.value());
                    n++;
                }
                if (n > 0) {
                    try {
                        c.commitSync();
                    } catch (KafkaException e) {
                        // A commit that raced a reconciliation (a stale member
                        // epoch): the next one covers it; at least once.
                        System.err.println("commit: " + e);
                    }
                }
                System.out.flush();
            }
            try {
                c.commitSync();
            } catch (KafkaException e) {
                System.err.println("final commit: " + e);
            }
        }
        System.out.println("CLOSED");
        System.out.flush();
    }
}
