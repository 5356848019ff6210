#!/usr/bin/python3
"""librdkafka's producer (confluent-kafka-python) for TestClientFailoverFigures.

usage: failover_producer.py bootstrap topic partitions defaults|fast

Sends one acks=all record to every partition each 20 ms and prints
"A partition sent_unix_ns acked_unix_ns" per acknowledgement, "E partition
error" per failed record, until stdin closes (or 30 minutes, a bound for a
test that dies without closing it); fast sets what docs/OPERATIONS.md
advises.
"""
import sys
import threading
import time

import confluent_kafka


def main():
    bootstrap, topic, partitions, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    # librdkafka's producer is not idempotent by default; the settings
    # docs/OPERATIONS.md gives keep it on in both runs.
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True}
    if mode == "fast":
        conf.update({
            "topic.metadata.refresh.fast.interval.ms": 100,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "message.timeout.ms": 30000,
        })
    producer = confluent_kafka.Producer(conf)
    print("# librdkafka %s" % confluent_kafka.libversion()[0], file=sys.stderr, flush=True)

    stop = threading.Event()

    def wait_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()

    def report(part, sent):
        def on_delivery(err, _msg):
            if err is not None:
                print("E %d %s" % (part, err), flush=True)
            else:
                print("A %d %d %d" % (part, sent, time.time_ns()), flush=True)
        return on_delivery

    end = time.monotonic() + 30 * 60
    n = 0
    while not stop.is_set() and time.monotonic() < end:
        for part in range(partitions):
            producer.produce(topic, value=b"r%d" % n, partition=part, on_delivery=report(part, time.time_ns()))
        n += 1
        # Serves delivery callbacks for the 20 ms until the next round.
        deadline = time.monotonic() + 0.02
        while time.monotonic() < deadline:
            producer.poll(max(0.0, deadline - time.monotonic()))
    producer.flush(30)


if __name__ == "__main__":
    main()
