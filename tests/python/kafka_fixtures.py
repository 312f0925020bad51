#!/usr/bin/env python3
"""Kafka fixtures for the Kafka tests, produced with kafka-python.

    kafka_fixtures.py BOOTSTRAP produce          # topics and messages
    kafka_fixtures.py BOOTSTRAP consume GROUP    # a consumer group reads orders and commits
    kafka_fixtures.py BOOTSTRAP offsets GROUP    # that group's committed offsets, as JSON
    kafka_fixtures.py BOOTSTRAP avro REGISTRY    # `payments`: Avro and JSON Schema values, framed

Topics: `orders` (3 partitions; 30 JSON orders with keys and headers),
`events` (1 partition; 12 lines of text), `blobs` (1 partition; one 5 MB
value and one binary value). Prints a JSON summary on stdout.
"""

from __future__ import annotations

import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def produce(bootstrap: str) -> dict:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cx-fixtures")
    try:
        admin.create_topics([
            NewTopic("orders", num_partitions=3, replication_factor=1),
            NewTopic("events", num_partitions=1, replication_factor=1),
            NewTopic("blobs", num_partitions=1, replication_factor=1),
        ])
    except TopicAlreadyExistsError:
        pass
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        max_request_size=8 * 1024 * 1024,
        linger_ms=0,
    )
    for i in range(30):
        order = {"order_id": i, "customer": f"customer {i % 7}", "amount": round(10 + i * 1.5, 2), "country": ["DE", "FR", "US"][i % 3]}
        producer.send(
            "orders",
            key=f"order-{i}".encode(),
            value=json.dumps(order).encode(),
            headers=[("source", b"shop"), ("trace", f"t-{i}".encode())],
            partition=i % 3,
        ).get(timeout=30)
    for i in range(12):
        producer.send("events", value=f"event line {i}".encode(), partition=0).get(timeout=30)
    producer.send("blobs", key=b"big", value=b"B" * (5 * 1024 * 1024), partition=0).get(timeout=60)
    producer.send("blobs", key=b"bin", value=bytes(range(256)), partition=0).get(timeout=30)
    producer.flush()
    producer.close()
    return {"orders": 30, "events": 12, "blobs": 2}


PAYMENT = {
    "type": "record", "name": "Payment", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def register(registry: str, subject: str, schema: str, kind: str) -> int:
    import urllib.request

    body = json.dumps({"schema": schema, "schemaType": kind}).encode()
    request = urllib.request.Request(
        f"{registry}/subjects/{subject}/versions", data=body, method="POST",
        headers={"content-type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["id"]


def avro(bootstrap: str, registry: str) -> dict:
    import io
    import struct

    import fastavro

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cx-fixtures")
    try:
        admin.create_topics([NewTopic("payments", num_partitions=1, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    admin.close()
    avro_id = register(registry, "payments-value", json.dumps(PAYMENT), "AVRO")
    json_id = register(registry, "payments-json-value", json.dumps({"type": "object"}), "JSON")
    parsed = fastavro.parse_schema(PAYMENT)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    for i in range(5):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, {"id": i, "amount": 9.5 + i, "currency": "EUR" if i % 2 else "USD", "note": None if i % 2 else f"note {i}"})
        framed = b"\x00" + struct.pack(">I", avro_id) + out.getvalue()
        producer.send("payments", key=f"pay-{i}".encode(), value=framed, partition=0).get(timeout=30)
    framed = b"\x00" + struct.pack(">I", json_id) + json.dumps({"id": 99, "kind": "refund"}).encode()
    producer.send("payments", key=b"pay-json", value=framed, partition=0).get(timeout=30)
    # An id the registry does not have, and a datum its schema cannot read.
    producer.send("payments", key=b"pay-unknown", value=b"\x00" + struct.pack(">I", 4242) + b"\x02\x04", partition=0).get(timeout=30)
    producer.send("payments", key=b"pay-broken", value=b"\x00" + struct.pack(">I", avro_id) + b"\xff", partition=0).get(timeout=30)
    producer.flush()
    producer.close()
    return {"avro_id": avro_id, "json_id": json_id, "payments": 8}


def consume(bootstrap: str, group: str) -> dict:
    consumer = KafkaConsumer(
        "orders",
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    seen = 0
    deadline = time.time() + 20
    for _ in consumer:
        seen += 1
        if seen >= 15 or time.time() > deadline:
            break
    consumer.commit()
    consumer.close()
    return {"consumed": seen}


def offsets(bootstrap: str, group: str) -> dict:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cx-fixtures")
    committed = admin.list_group_offsets({group: None})[group]
    try:
        described = admin.describe_groups([group])
    except Exception as e:  # a broker without DescribeGroups: offsets only
        described = [type("G", (), {"state": f"not described: {type(e).__name__}", "members": []})()]
    admin.close()
    offsets = {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in sorted(committed.items(), key=lambda kv: (kv[0].topic, kv[0].partition))}
    groups = []
    for g in described:
        members = getattr(g, "members", None) or []
        groups.append({"state": str(getattr(g, "state", "")), "members": sorted(str(getattr(m, "member_id", m)) for m in members)})
    return {"offsets": offsets, "groups": groups}


def main() -> None:
    bootstrap, action = sys.argv[1], sys.argv[2]
    if action == "produce":
        out = produce(bootstrap)
    elif action == "consume":
        out = consume(bootstrap, sys.argv[3])
    elif action == "offsets":
        out = offsets(bootstrap, sys.argv[3])
    elif action == "avro":
        out = avro(bootstrap, sys.argv[3])
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
