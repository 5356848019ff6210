#!/usr/bin/python3
"""Runs the security matrix's cells (test/compat/security_matrix_test.go) for the Python clients.

LONGBOAT_SECURITY_PY_LOG names a file for the libraries' debug log.

usage: pysec.py version            # {"confluent-kafka": "...", "kafka-python": "..."}, null if missing
       pysec.py < cells.json       # one JSON array of cells; one JSON line per cell as it finishes

Cells run concurrently, each with its own producer, consumer or admin client. An answer is
{"id", "records"} (the records read back whose keys carry the cell's id), or {"id", "code",
"name", "error"}: the Kafka error code the client reports (librdkafka's own negative codes
included), or {"id", "unsupported"} when the library cannot do what the cell asks.
"""
import json
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


class Unsupported(Exception):
    pass


class Failed(Exception):
    """A failure with the error code the client reported."""

    def __init__(self, code, name, message, note=""):
        super().__init__(message)
        self.code, self.name, self.note = code, name, note


def versions():
    out = {"confluent-kafka": None, "kafka-python": None}
    try:
        import confluent_kafka
        out["confluent-kafka"] = "confluent-kafka-python %s, librdkafka %s (Debian)" % (
            confluent_kafka.version()[0], confluent_kafka.libversion()[0])
    except ImportError:
        pass
    try:
        import kafka
        out["kafka-python"] = "kafka-python " + kafka.__version__ + " (Debian)"
    except ImportError:
        pass
    return out


class Driver:
    """What both libraries' drivers share: the cell's deadline, and a round trip's sending and
    reading back, around each library's own send and poll."""

    def __init__(self, c):
        self.c = c
        self.deadline = time.time() + c["timeout_ms"] / 1000.0

    def left(self):
        return max(0.5, self.deadline - time.time())

    def send_records(self, p, reauth):
        """Sends the cell's records with p; for reauth, half of them after a pause that outlasts
        the SASL session."""
        recs = self.c["records"]
        if not reauth:
            self.send(p, recs)
            return
        half = len(recs) // 2
        self.send(p, recs[:half])
        time.sleep(self.c["pause_ms"] / 1000.0)
        self.send(p, recs[half:])

    def read_back(self, cons, poll):
        """Reads with poll (a list of (key, value) bytes per call) until every record of the
        cell (its key starts with the cell's id) has arrived, and closes cons."""
        want = len(self.c["records"])
        prefix = self.c["id"] + "/"
        out = []
        try:
            while len(out) < want:
                if time.time() > self.deadline:
                    raise Exception("read back %d of %d records before the deadline" % (len(out), want))
                for k, v in poll():
                    k = k.decode()
                    if k.startswith(prefix):
                        out.append({"k": k, "v": v.decode()})
        finally:
            cons.close()
        return out


class Confluent(Driver):
    """confluent-kafka-python on librdkafka."""

    def __init__(self, c):
        import confluent_kafka
        super().__init__(c)
        self.ck = confluent_kafka
        self.errors = []  # from error_cb: connection and authentication failures
        conf = {"bootstrap.servers": c["bootstrap"], "client.id": c["client_id"],
                "security.protocol": c["protocol"], "error_cb": self.errors.append,
                "reconnect.backoff.max.ms": 200}
        if c.get("mechanism"):
            conf.update({"sasl.mechanisms": c["mechanism"], "sasl.username": c["user"], "sasl.password": c["password"]})
        if c.get("ca_file"):
            conf["ssl.ca.location"] = c["ca_file"]
        if c.get("cert_file"):
            conf.update({"ssl.certificate.location": c["cert_file"], "ssl.key.location": c["key_file"]})
        self.conf = conf

    def failed(self, err):
        """Raises Failed for a KafkaError."""
        raise Failed(err.code(), err.name(), str(err))

    def producer(self, **extra):
        conf = dict(self.conf, **{"acks": "all", "linger.ms": 5, "message.timeout.ms": int(self.left() * 1000)})
        conf.update(extra)
        return self.ck.Producer(conf)

    def send(self, p, recs):
        errs = []

        def done(err, msg):
            if err is not None:
                errs.append(err)
        for r in recs:
            p.produce(self.c["topic"], key=r["k"], value=r["v"], partition=0, on_delivery=done)
            p.poll(0)
        left = p.flush(self.left())
        if errs:
            self.failed(errs[0])
        if left:
            self.no_answer("%d messages undelivered" % left)

    def no_answer(self, what):
        """Raises what error_cb reported (authentication, transport), else a timeout."""
        for e in self.errors:
            if e.code() == self.ck.KafkaError._AUTHENTICATION:
                self.failed(e)
        if self.errors:
            self.failed(self.errors[0])
        raise Failed(self.ck.KafkaError._TIMED_OUT, "_TIMED_OUT", what)

    def roundtrip(self, reauth):
        c = self.c
        self.send_records(self.producer(), reauth)
        cons = self.ck.Consumer(dict(self.conf, **{"group.id": c["group"], "enable.auto.commit": False}))
        cons.assign([self.ck.TopicPartition(c["topic"], 0, self.ck.OFFSET_BEGINNING)])

        def poll():
            m = cons.poll(0.2)
            if m is None:
                return []
            if m.error():
                if m.error().code() == self.ck.KafkaError._PARTITION_EOF:
                    return []
                self.failed(m.error())
            return [(m.key(), m.value())]
        return self.read_back(cons, poll)

    def probe(self):
        """Metadata requests until error_cb reports why none is answered: the authentication's
        failure, or for a client without TLS on the TLS listener the transport's."""
        p = self.producer()
        want = self.ck.KafkaError._AUTHENTICATION if self.c["kind"] == "auth_fail" else None
        while time.time() < self.deadline:
            try:
                p.list_topics(timeout=0.5)
                raise Exception("metadata answered")
            except self.ck.KafkaException:
                pass
            p.poll(0)  # serves error_cb
            for e in self.errors:
                if want is None or e.code() == want:
                    self.failed(e)
        self.no_answer("no metadata")

    def deny_topic(self):
        self.send(self.producer(), self.c["records"])
        raise Exception("produce succeeded")

    def deny_group(self):
        c = self.c
        cons = self.ck.Consumer(dict(self.conf, **{"group.id": c["group"], "enable.auto.commit": False}))
        cons.subscribe([c["topic"]])
        try:
            while time.time() < self.deadline:
                m = cons.poll(0.2)
                if m is not None and m.error():
                    self.failed(m.error())
                if cons.assignment():
                    raise Exception("the group consumer was assigned partitions")
            self.no_answer("no error and no assignment")
        finally:
            cons.close()

    def deny_cluster(self):
        from confluent_kafka.admin import AdminClient, ConfigResource
        a = AdminClient(self.conf)
        fs = a.describe_configs([ConfigResource("broker", "1")])
        for f in fs.values():
            try:
                f.result(timeout=self.left())
            except self.ck.KafkaException as e:
                self.failed(e.args[0])
        raise Exception("DescribeConfigs of broker 1 succeeded")

    def deny_txn(self):
        p = self.producer(**{"transactional.id": self.c["txn_id"]})
        try:
            p.init_transactions(self.left())
        except self.ck.KafkaException as e:
            self.failed(e.args[0])
        raise Exception("init_transactions succeeded")


class KafkaPython(Driver):
    """kafka-python, pure Python."""

    def __init__(self, c):
        import kafka
        super().__init__(c)
        self.kafka = kafka
        conf = {"bootstrap_servers": c["bootstrap"], "client_id": c["client_id"],
                "security_protocol": c["protocol"], "reconnect_backoff_max_ms": 200,
                # The version probe of a new client: its default of 2 s is short for a TLS and SASL
                # handshake on a loaded machine.
                "api_version_auto_timeout_ms": 15000}
        if c.get("mechanism"):
            conf.update({"sasl_mechanism": c["mechanism"], "sasl_plain_username": c["user"], "sasl_plain_password": c["password"]})
        if c.get("ca_file"):
            conf["ssl_cafile"] = c["ca_file"]
        if c.get("cert_file"):
            conf.update({"ssl_certfile": c["cert_file"], "ssl_keyfile": c["key_file"]})
        self.conf = conf

    def failed(self, e):
        code = getattr(e, "errno", None)
        raise Failed(code if isinstance(code, int) else -1, type(e).__name__, str(e)) from e

    def producer(self):
        # retries: a connection closed when its SASL session expired (no KIP-368 here) fails the
        # request in flight, which the broker never ran.
        return self.kafka.KafkaProducer(acks="all", linger_ms=5, retries=3, max_block_ms=int(self.left() * 1000), **self.conf)

    def send(self, p, recs):
        fs = [p.send(self.c["topic"], key=r["k"].encode(), value=r["v"].encode(), partition=0) for r in recs]
        p.flush(self.left())
        for f in fs:
            f.get(self.left())

    def roundtrip(self, reauth):
        p = self.producer()
        self.send_records(p, reauth)
        p.close(5)
        cons = self.kafka.KafkaConsumer(enable_auto_commit=False, group_id=None, **self.conf)
        cons.assign([self.kafka.TopicPartition(self.c["topic"], 0)])
        cons.seek_to_beginning()
        return self.read_back(cons, lambda: [(m.key, m.value) for msgs in cons.poll(timeout_ms=200).values() for m in msgs])

    def probe(self):
        try:
            p = self.producer()
            p.partitions_for(self.c["topic"])
        except self.kafka.errors.KafkaError as e:
            self.failed(e)
        raise Exception("metadata answered")

    def deny_topic(self):
        p = self.kafka.KafkaProducer(acks="all", max_block_ms=5000, **self.conf)
        try:
            self.send(p, self.c["records"])
        except self.kafka.errors.KafkaTimeoutError as e:
            # kafka-python 2.0.2's producer drops the topic error of a one-topic Metadata answer
            # (ClusterMetadata.update_metadata fails the update without marking the topic
            # unauthorized) and waits out max_block_ms; its admin client shows the answer.
            topics = self.kafka.KafkaAdminClient(**self.conf).describe_topics([self.c["topic"]])
            codes = [t["error_code"] for t in topics]
            if codes == [29]:
                raise Failed(29, "KafkaTimeoutError", str(e),
                             "kafka-python %s's producer raises only KafkaTimeoutError after max_block_ms (its "
                             "metadata code drops the topic's error); describe_topics on the same connection "
                             "settings shows the broker's TOPIC_AUTHORIZATION_FAILED" % self.kafka.__version__)
            self.failed(e)
        except self.kafka.errors.KafkaError as e:
            self.failed(e)
        raise Exception("produce succeeded")

    def deny_group(self):
        c = self.c
        cons = self.kafka.KafkaConsumer(c["topic"], group_id=c["group"], enable_auto_commit=False, **self.conf)
        try:
            while time.time() < self.deadline:
                cons.poll(timeout_ms=200)
                if cons.assignment():
                    raise Exception("the group consumer was assigned partitions")
            raise Exception("no error and no assignment before the deadline")
        except self.kafka.errors.KafkaError as e:
            self.failed(e)
        finally:
            cons.close()

    def deny_cluster(self):
        from kafka.admin import ConfigResource, ConfigResourceType
        try:
            a = self.kafka.KafkaAdminClient(**self.conf)
            resps = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
        except self.kafka.errors.KafkaError as e:
            self.failed(e)
        for resp in resps:
            for code, message, _, name, _ in resp.resources:
                if code != 0:
                    err = self.kafka.errors.for_code(code)
                    raise Failed(code, err.__name__, "%s: %s" % (name, message))
        raise Exception("DescribeConfigs of broker 1 succeeded")

    def deny_txn(self):
        if "transactional_id" not in self.kafka.KafkaProducer.DEFAULT_CONFIG:
            raise Unsupported("kafka-python %s's KafkaProducer has no transactional_id setting (no transactions)" % self.kafka.__version__)
        raise Exception("this driver does not drive kafka-python transactions")


def run(c):
    lib = {"confluent-kafka": Confluent, "kafka-python": KafkaPython}[c["lib"]](c)
    kind = c["kind"]
    if kind in ("roundtrip", "reauth"):
        return {"records": lib.roundtrip(kind == "reauth")}
    if kind in ("auth_fail", "no_tls"):
        return lib.probe()
    return getattr(lib, kind)()


def answer(c, lock):
    began = time.time()
    out = {"id": c["id"]}
    try:
        out.update(run(c))
    except Unsupported as e:
        out["unsupported"] = str(e)
    except Failed as e:
        out.update({"code": e.code, "name": e.name, "error": str(e), "note": e.note})
    except Exception as e:
        out.update({"code": -1, "name": type(e).__name__, "error": str(e)})
    out["ms"] = int((time.time() - began) * 1000)
    with lock:
        print(json.dumps(out), flush=True)


def main():
    if os.environ.get("LONGBOAT_SECURITY_PY_LOG"):
        logging.basicConfig(filename=os.environ["LONGBOAT_SECURITY_PY_LOG"], level=logging.DEBUG,
                            format="%(asctime)s %(threadName)s %(name)s %(message)s")
    if len(sys.argv) > 1 and sys.argv[1] == "version":
        print(json.dumps(versions()))
        return
    cells = json.loads(sys.stdin.readline())
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=6) as pool:
        for c in cells:
            pool.submit(answer, c, lock)


if __name__ == "__main__":
    main()
