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
 * after every poll while something consumed is uncommitted (a failed commit
 * is logged and retried after the next poll), and leaves the group (epoch
 * -1) when its stdin closes.
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
            boolean dirty = false;
            while (!stop.get()) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    System.out.println("R " + r.partition() + " " + r.offset() + " " + r.value());
                    dirty = true;
                }
                if (dirty) {
                    dirty = !commit(c, "commit");
                }
                System.out.flush();
            }
            // A commit refused for a stale member epoch (it raced a
            // reconciliation) is retried with the epoch the next
            // heartbeat brings, so that what was consumed is committed.
            for (int i = 0; dirty && i < 20; i++) {
                dirty = !commit(c, "final commit");
                if (dirty) {
                    Thread.sleep(100);
                }
            }
        }
        System.out.println("CLOSED");
        System.out.flush();
    }

    /** Commits what was consumed and tells whether that succeeded. */
    private static boolean commit(KafkaConsumer<String, String> c, String what) {
        try {
            c.commitSync();
            return true;
        } catch (KafkaException e) {
            System.err.println(what + ": " + e);
            return false;
        }
    }
}
