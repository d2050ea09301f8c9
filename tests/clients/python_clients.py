"""Produce and consume through two independent Python Kafka clients.

usage: python_clients.py BOOTSTRAP TOPIC produce-confluent|produce-kafka-python|consume N

Produces 20 records keyed with the client's name, or consumes N records from the start of
every partition of TOPIC with each client in turn and prints `client key value` per record,
so the caller can check that every client saw every record."""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition


def produce_confluent(bootstrap, topic):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "gzip"})
    errors = []
    for i in range(20):
        p.produce(topic, key=f"confluent-{i}", value=f"from confluent-kafka {i}",
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    remaining = p.flush(20)
    if remaining or errors:
        sys.exit(f"confluent-kafka: {remaining} undelivered, errors {errors}")


def produce_kafka_python(bootstrap, topic):
    # kafka-python 3 is idempotent by default: this exercises InitProducerId too.
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
    futures = [p.send(topic, key=f"kafka-python-{i}".encode(), value=f"from kafka-python {i}".encode())
               for i in range(20)]
    for f in futures:
        f.get(timeout=20)
    p.close()


def consume_confluent(bootstrap, topic, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-reader", "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    got = []
    while len(got) < n:
        m = c.poll(20)
        if m is None:
            sys.exit(f"confluent-kafka: only {len(got)} of {n} records")
        if m.error():
            sys.exit(f"confluent-kafka: {m.error()}")
        got.append((m.key().decode(), m.value().decode()))
    c.close()
    return got


def consume_kafka_python(bootstrap, topic, n):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=20000)
    parts = c.partitions_for_topic(topic)
    c.assign([KpTopicPartition(topic, p) for p in parts])
    c.seek_to_beginning()
    got = []
    for m in c:
        got.append((m.key.decode(), m.value.decode()))
        if len(got) == n:
            break
    c.close()
    if len(got) < n:
        sys.exit(f"kafka-python: only {len(got)} of {n} records")
    return got


def main():
    bootstrap, topic, action = sys.argv[1:4]
    if action == "produce-confluent":
        produce_confluent(bootstrap, topic)
    elif action == "produce-kafka-python":
        produce_kafka_python(bootstrap, topic)
    elif action == "consume":
        n = int(sys.argv[4])
        for name, consume in (("confluent-kafka", consume_confluent), ("kafka-python", consume_kafka_python)):
            for key, value in consume(bootstrap, topic, n):
                print(name, key, value)
    else:
        sys.exit(f"unknown action {action}")


if __name__ == "__main__":
    main()
