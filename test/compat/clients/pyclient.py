#!/usr/bin/python3
"""Drives a Python Kafka client for the compatibility suite (test/compat).

usage: pyclient.py kafka-python|confluent-kafka < request.json > response.json

The request names an operation and its arguments; records travel as JSON
with base64 keys, values and header values (null stays null). Errors are
reported as {"error": "..."} with exit status 1, "unsupported" ones as
{"unsupported": "..."}, operations this driver does not drive as
{"not_run": "..."}.
"""
import base64
import json
import sys
import time


def b64(b):
    return None if b is None else base64.b64encode(bytes(b)).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def out_record(partition, offset, key, value, headers, ts):
    return {"p": partition, "o": offset, "k": b64(key), "v": b64(value),
            "h": [{"k": k, "v": b64(v)} for k, v in (headers or [])], "ts": ts}


class Unsupported(Exception):
    pass


def check_topic_errors(what, topic_errors):
    """Raises on the first non-zero code of kafka-python's per-topic
    (name, code[, message]) tuples; returns an empty response."""
    for t in topic_errors:
        if t[1] != 0:
            raise Exception("%s %s: error %s" % (what, t[0], t[1:]))
    return {}


class KafkaPython:
    """kafka-python, a pure-Python client (Debian python3-kafka)."""

    def __init__(self, req):
        import kafka
        self.kafka = kafka
        self.req = req
        self.common = {"bootstrap_servers": req["bootstrap"], "client_id": req["client_id"]}

    @staticmethod
    def version():
        import kafka
        return "kafka-python " + kafka.__version__

    def produce(self):
        r = self.req
        if r.get("idempotent"):
            raise Unsupported("kafka-python has no idempotent producer")
        acks = {0: 0, 1: 1, -1: "all"}[r["acks"]]
        codec = None if r["codec"] == "none" else r["codec"]
        p = self.kafka.KafkaProducer(acks=acks, compression_type=codec, linger_ms=5, **self.common)
        futures = []
        for rec in r["records"]:
            futures.append(p.send(r["topic"], value=unb64(rec["v"]), key=unb64(rec["k"]), partition=rec["p"],
                                  headers=[(h["k"], unb64(h["v"])) for h in (rec["h"] or [])],
                                  timestamp_ms=rec["ts"] or None))
        p.flush(30)
        for f in futures:
            f.get(30)
        p.close(10)
        return {}

    def _records(self, msgs):
        return [out_record(m.partition, m.offset, m.key, m.value, m.headers, m.timestamp) for m in msgs]

    def consume(self):
        r = self.req
        TP = self.kafka.TopicPartition
        c = self.kafka.KafkaConsumer(enable_auto_commit=False, group_id=None, **self.common)
        left = {x["p"]: x["to"] for x in r["ranges"] if x["to"] > x["from"]}
        c.assign([TP(r["topic"], p) for p in left])
        for x in r["ranges"]:
            if x["p"] in left:
                c.seek(TP(r["topic"], x["p"]), x["from"])
        out = []
        deadline = time.time() + r["timeout"]
        while left and time.time() < deadline:
            for tp, msgs in c.poll(timeout_ms=200).items():
                for m in msgs:
                    to = left.get(m.partition)
                    if to is None or m.offset >= to:
                        continue
                    out += self._records([m])
                    if m.offset >= to - 1:
                        del left[m.partition]
        c.close()
        if left:
            raise Exception("partitions %s not read to their end" % left)
        return {"records": out}

    def group_consume(self):
        r = self.req
        c = self.kafka.KafkaConsumer(r["topic"], group_id=r["group"], auto_offset_reset="earliest",
                                     enable_auto_commit=False, **self.common)
        out = []
        deadline = time.time() + r["timeout"]
        while len(out) < r["want"] and time.time() < deadline:
            for tp, msgs in c.poll(timeout_ms=200).items():
                out += self._records(msgs)
        c.commit()
        c.close()
        return {"records": out}

    def admin(self):
        return self.kafka.KafkaAdminClient(**self.common)

    def create_topic(self):
        from kafka.admin import NewTopic
        a = self.admin()
        sets = self.req.get("assignment")
        if sets:
            t = NewTopic(self.req["topic"], -1, -1, replica_assignments={p: s for p, s in enumerate(sets)})
        else:
            t = NewTopic(self.req["topic"], self.req["partitions"], 3)
        resp = a.create_topics([t])
        a.close()
        return check_topic_errors("create", resp.topic_errors)

    def describe_topic(self):
        a = self.admin()
        ts = a.describe_topics([self.req["topic"]])
        a.close()
        if len(ts) != 1:
            raise Exception("described %d topics" % len(ts))
        t = ts[0]
        if t["error_code"] != 0:
            raise Exception("describe %s: error %d" % (t["topic"], t["error_code"]))
        return {"name": t["topic"], "leaders": {str(p["partition"]): p["leader"] for p in t["partitions"]}}

    def create_partitions(self):
        from kafka.admin import NewPartitions
        a = self.admin()
        resp = a.create_partitions({self.req["topic"]: NewPartitions(self.req["total"], self.req.get("assignment"))})
        a.close()
        return check_topic_errors("create partitions", resp.topic_errors)

    def delete_topic(self):
        a = self.admin()
        resp = a.delete_topics([self.req["topic"]])
        a.close()
        return check_topic_errors("delete", resp.topic_error_codes)

    def offset_for_time(self):
        r = self.req
        tp = self.kafka.TopicPartition(r["topic"], r["partition"])
        c = self.kafka.KafkaConsumer(**self.common)
        res = c.offsets_for_times({tp: r["ts"]})
        c.close()
        if res.get(tp) is None:
            raise Exception("no offset for timestamp %d" % r["ts"])
        return {"offset": res[tp].offset}

    def describe_topic_id(self):
        raise Unsupported("kafka-python 2.0.2 speaks Metadata up to v5, before topic ids")

    def delete_topic_id(self):
        raise Unsupported("kafka-python 2.0.2 speaks DeleteTopics up to v3, before topic ids")

    def delete_records(self):
        raise Unsupported("kafka-python 2.0.2's admin client has no delete_records")

    def alter_quota(self):
        raise Unsupported("kafka-python 2.0.2's admin client has no client quota calls")

    def describe_quotas(self):
        raise Unsupported("kafka-python 2.0.2's admin client has no client quota calls")

    def describe_quorum(self):
        raise Unsupported("kafka-python 2.0.2's admin client has no metadata quorum call")

    def alter_topic_config(self):
        from kafka.admin import ConfigResource, ConfigResourceType
        r = self.req
        a = self.admin()
        # AlterConfigs, not incremental: the topic's dynamic configs become exactly these.
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, r["topic"], configs={r["key"]: r["value"]})])
        a.close()
        for res in resp.resources:
            if res[0] != 0:
                raise Exception("alter configs of %s: error %s %s" % (res[3], res[0], res[1]))
        return {}

    def describe_topic_config(self):
        from kafka.admin import ConfigResource, ConfigResourceType
        r = self.req
        a = self.admin()
        resps = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, r["topic"], configs={r["key"]: None})])
        a.close()
        for resp in resps:
            for code, message, _, name, entries in resp.resources:
                if code != 0:
                    raise Exception("describe configs of %s: error %s %s" % (name, code, message))
                for e in entries:
                    if e[0] == r["key"]:
                        return {"value": e[1]}
        raise Exception("no config %s described" % r["key"])

    def list_groups(self):
        a = self.admin()
        groups = a.list_consumer_groups()
        a.close()
        return {"groups": [g[0] for g in groups]}

    def describe_group(self):
        a = self.admin()
        ds = a.describe_consumer_groups([self.req["group"]])
        a.close()
        if len(ds) != 1 or ds[0].error_code != 0:
            raise Exception("describe group: %s" % (ds,))
        members = []
        for m in ds[0].members:
            assigned = {}
            for t, ps in (m.member_assignment.assignment if m.member_assignment else []):
                assigned.setdefault(t, []).extend(ps)
            members.append({"client_id": m.client_id, "assigned": assigned})
        return {"state": ds[0].state, "members": members}

    def group_offsets(self):
        r = self.req
        a = self.admin()
        offs = a.list_consumer_group_offsets(r["group"])
        a.close()
        return {"offsets": {str(tp.partition): om.offset for tp, om in offs.items() if tp.topic == r["topic"] and om.offset >= 0}}

    def alter_group_offsets(self):
        # The admin client has no call for it: a consumer of the group,
        # assigned rather than subscribed, commits from outside the group.
        from kafka.structs import OffsetAndMetadata
        r = self.req
        TP = self.kafka.TopicPartition
        offs = {TP(r["topic"], int(p)): OffsetAndMetadata(o, "") for p, o in r["offsets"].items()}
        c = self.kafka.KafkaConsumer(group_id=r["group"], enable_auto_commit=False, **self.common)
        c.assign(list(offs))
        c.commit(offs)
        c.close(autocommit=False)
        return {}

    def delete_group(self):
        import kafka.errors
        a = self.admin()
        res = a.delete_consumer_groups([self.req["group"]])
        a.close()
        for group, err in res:
            if err is not kafka.errors.NoError:
                raise Exception("delete group %s: %s" % (group, err))
        return {}

    def txn_produce(self):
        if "transactional_id" not in self.kafka.KafkaProducer.DEFAULT_CONFIG:
            raise Unsupported("kafka-python %s has no transactional producer (KafkaProducer takes no transactional_id)"
                              % self.kafka.__version__)
        raise Exception("clients/pyclient.py does not drive kafka-python's transactional producer yet")


class ConfluentKafka:
    """confluent-kafka-python on librdkafka (Debian python3-confluent-kafka)."""

    def __init__(self, req):
        import confluent_kafka
        self.ck = confluent_kafka
        self.req = req
        self.common = {"bootstrap.servers": ",".join(req["bootstrap"]), "client.id": req["client_id"]}

    @staticmethod
    def version():
        import confluent_kafka
        return "confluent-kafka-python %s, librdkafka %s (Debian)" % (confluent_kafka.version()[0], confluent_kafka.libversion()[0])

    def produce(self):
        r = self.req
        conf = dict(self.common, **{"acks": str(r["acks"]), "compression.type": r["codec"], "linger.ms": 5})
        if r.get("idempotent"):
            conf["enable.idempotence"] = True
        p = self.ck.Producer(conf)
        errors = []

        def done(err, msg):
            if err is not None:
                errors.append(str(err))
        for rec in r["records"]:
            kw = {"value": unb64(rec["v"]), "key": unb64(rec["k"]), "partition": rec["p"], "on_delivery": done}
            if rec["h"]:
                kw["headers"] = [(h["k"], unb64(h["v"])) for h in rec["h"]]
            if rec["ts"]:
                kw["timestamp"] = rec["ts"]
            p.produce(r["topic"], **kw)
            p.poll(0)
        if p.flush(30) != 0:
            raise Exception("messages still queued after 30s")
        if errors:
            raise Exception("delivery failed: %s" % errors[:3])
        return {}

    def _record(self, m):
        if m.error():
            raise Exception(str(m.error()))
        return out_record(m.partition(), m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1])

    def consume(self):
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": "compat-unused", "enable.auto.commit": False}))
        left = {x["p"]: x["to"] for x in r["ranges"] if x["to"] > x["from"]}
        c.assign([self.ck.TopicPartition(r["topic"], x["p"], x["from"]) for x in r["ranges"] if x["p"] in left])
        out = []
        deadline = time.time() + r["timeout"]
        while left and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            rec = self._record(m)
            to = left.get(rec["p"])
            if to is None or rec["o"] >= to:
                continue
            out.append(rec)
            if rec["o"] >= to - 1:
                del left[rec["p"]]
        c.close()
        if left:
            raise Exception("partitions %s not read to their end" % left)
        return {"records": out}

    def group_consume(self):
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": r["group"], "auto.offset.reset": "earliest",
                                                   "enable.auto.commit": False}))
        c.subscribe([r["topic"]])
        out = []
        deadline = time.time() + r["timeout"]
        while len(out) < r["want"] and time.time() < deadline:
            m = c.poll(0.2)
            if m is not None:
                out.append(self._record(m))
        if out:
            c.commit(asynchronous=False)
        c.close()
        return {"records": out}

    def admin(self):
        from confluent_kafka.admin import AdminClient
        # Kept on self: the futures fail once the client is collected.
        self.adm = AdminClient(self.common)
        return self.adm

    def create_topic(self):
        from confluent_kafka.admin import NewTopic
        sets = self.req.get("assignment")
        if sets:
            t = NewTopic(self.req["topic"], num_partitions=len(sets), replica_assignment=sets)
        else:
            t = NewTopic(self.req["topic"], num_partitions=self.req["partitions"], replication_factor=3)
        for f in self.admin().create_topics([t]).values():
            f.result(30)
        return {}

    def describe_topic(self):
        md = self.admin().list_topics(topic=self.req["topic"], timeout=30)
        t = md.topics[self.req["topic"]]
        if t.error is not None:
            raise Exception(str(t.error))
        return {"name": t.topic, "leaders": {str(p.id): p.leader for p in t.partitions.values()}}

    def create_partitions(self):
        from confluent_kafka.admin import NewPartitions
        sets = self.req.get("assignment")
        p = NewPartitions(self.req["topic"], self.req["total"], replica_assignment=sets) if sets else NewPartitions(self.req["topic"], self.req["total"])
        for f in self.admin().create_partitions([p]).values():
            f.result(30)
        return {}

    def delete_topic(self):
        for f in self.admin().delete_topics([self.req["topic"]], operation_timeout=30).values():
            f.result(30)
        return {}

    def offset_for_time(self):
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": "compat-unused"}))
        res = c.offsets_for_times([self.ck.TopicPartition(r["topic"], r["partition"], r["ts"])], timeout=30)
        c.close()
        if res[0].error:
            raise Exception(str(res[0].error))
        return {"offset": res[0].offset}

    def describe_topic_id(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient addresses topics by name only")

    def delete_topic_id(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient addresses topics by name only")

    def delete_records(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient has no delete_records")

    def alter_quota(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient has no client quota calls")

    def describe_quotas(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient has no client quota calls")

    def describe_quorum(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient has no metadata quorum call")

    def alter_topic_config(self):
        from confluent_kafka.admin import ConfigResource
        r = self.req
        # AlterConfigs, not incremental: the topic's dynamic configs become exactly these.
        for f in self.admin().alter_configs([ConfigResource("topic", r["topic"], set_config={r["key"]: r["value"]})]).values():
            f.result(30)
        return {}

    def describe_topic_config(self):
        from confluent_kafka.admin import ConfigResource
        r = self.req
        for f in self.admin().describe_configs([ConfigResource("topic", r["topic"])]).values():
            entries = f.result(30)
            if r["key"] in entries:
                return {"value": entries[r["key"]].value}
        raise Exception("no config %s described" % r["key"])

    def list_groups(self):
        return {"groups": [g.id for g in self.admin().list_groups(timeout=30)]}

    def describe_group(self):
        # list_groups of one group: DescribeGroups underneath.
        gs = self.admin().list_groups(group=self.req["group"], timeout=30)
        if len(gs) != 1 or gs[0].error is not None:
            raise Exception("describe group: %s" % [(g.id, g.error) for g in gs])
        members = [{"client_id": m.client_id, "assigned": consumer_assignment(m.assignment)} for m in gs[0].members]
        return {"state": gs[0].state, "members": members}

    def group_offsets(self):
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": r["group"], "enable.auto.commit": False}))
        parts = c.list_topics(r["topic"], timeout=30).topics[r["topic"]].partitions
        tps = c.committed([self.ck.TopicPartition(r["topic"], p) for p in parts], timeout=30)
        c.close()
        for tp in tps:
            if tp.error:
                raise Exception(str(tp.error))
        return {"offsets": {str(tp.partition): tp.offset for tp in tps if tp.offset >= 0}}

    def alter_group_offsets(self):
        # The admin client has no call for it: a consumer of the group,
        # assigned rather than subscribed, commits from outside the group.
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": r["group"], "enable.auto.commit": False}))
        tps = [self.ck.TopicPartition(r["topic"], int(p), o) for p, o in r["offsets"].items()]
        c.assign(tps)
        res = c.commit(offsets=tps, asynchronous=False)
        c.close()
        for tp in res or []:
            if tp.error:
                raise Exception(str(tp.error))
        return {}

    def delete_group(self):
        raise Unsupported("confluent-kafka-python 1.7.0's AdminClient has no delete_consumer_groups")

    def _txn_producer(self):
        p = self.ck.Producer(dict(self.common, **{"transactional.id": self.req["transactional_id"],
                                                  "transaction.timeout.ms": 30000}))
        p.init_transactions(30)
        return p

    def txn_produce(self):
        """Runs transactions of text values on a topic, each committed or aborted as asked."""
        r = self.req
        p = self._txn_producer()
        for t in r["transactions"]:
            p.begin_transaction()
            for v in t["values"]:
                p.produce(r["topic"], value=v.encode())
                p.poll(0)
            if t["commit"]:
                p.commit_transaction(30)
            else:
                p.abort_transaction(30)
        return {}

    def txn_pipeline(self):
        """Consumes "in" in a group under read_committed and writes each value, prefixed "out-",
        to "out" in a transaction that also commits the consumed offsets
        (send_offsets_to_transaction), until it has processed "want" records."""
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": r["group"], "auto.offset.reset": "earliest",
                                                   "enable.auto.commit": False, "isolation.level": "read_committed"}))
        c.subscribe([r["in"]])
        p = self._txn_producer()
        done = 0
        deadline = time.time() + r["timeout"]
        while done < r["want"] and time.time() < deadline:
            msgs = c.consume(100, 0.2)
            if not msgs:
                continue
            p.begin_transaction()
            offsets = {}
            for m in msgs:
                if m.error():
                    raise Exception(str(m.error()))
                p.produce(r["out"], value=b"out-" + m.value())
                offsets[(m.topic(), m.partition())] = m.offset() + 1
            tps = [self.ck.TopicPartition(t, part, o) for (t, part), o in offsets.items()]
            p.send_offsets_to_transaction(tps, c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
            done += len(msgs)
        c.close()
        return {"processed": done}

    def read_committed(self):
        """Reads a whole topic under read_committed until it has "want" values and two seconds
        bring nothing more."""
        r = self.req
        c = self.ck.Consumer(dict(self.common, **{"group.id": "compat-unused", "enable.auto.commit": False,
                                                   "isolation.level": "read_committed"}))
        parts = c.list_topics(r["topic"], timeout=30).topics[r["topic"]].partitions
        c.assign([self.ck.TopicPartition(r["topic"], p, self.ck.OFFSET_BEGINNING) for p in parts])
        out = []
        deadline = time.time() + r["timeout"]
        last = time.time()
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                if len(out) >= r["want"] and time.time() - last > 2:
                    c.close()
                    return {"values": out}
                continue
            if m.error():
                raise Exception(str(m.error()))
            out.append(m.value().decode())
            last = time.time()
        c.close()
        raise Exception("read %d values of %d before the deadline" % (len(out), r["want"]))


def consumer_assignment(raw):
    """Decodes a consumer-protocol member assignment: {topic: [partitions]}."""
    import struct
    if not raw:
        return {}
    pos = 2  # version
    (n,) = struct.unpack_from(">i", raw, pos)
    pos += 4
    out = {}
    for _ in range(n):
        (tl,) = struct.unpack_from(">h", raw, pos)
        topic = raw[pos + 2:pos + 2 + tl].decode()
        pos += 2 + tl
        (pn,) = struct.unpack_from(">i", raw, pos)
        out[topic] = list(struct.unpack_from(">%di" % pn, raw, pos + 4))
        pos += 4 + 4 * pn
    return out


LIBS = {"kafka-python": KafkaPython, "confluent-kafka": ConfluentKafka}


def main():
    lib = LIBS[sys.argv[1]]
    if sys.argv[2:] == ["version"]:
        print(json.dumps({"version": lib.version()}))
        return 0
    req = json.load(sys.stdin)
    try:
        op = getattr(lib(req), req["op"], None)
        if op is None:
            # Not a claim that the library lacks it: this driver does not drive it (yet).
            print(json.dumps({"not_run": "clients/pyclient.py does not drive %s for %s" % (req["op"], sys.argv[1])}))
            return 0
        resp = op()
    except Unsupported as e:
        print(json.dumps({"unsupported": str(e)}))
        return 0
    except Exception as e:  # reported to the Go side, which fails the cell
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        return 1
    print(json.dumps(resp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
