"""Writes examples/maxwell-prod.jsonl: 500 Maxwell lines from a shop database, 5 of them broken.

With examples/rules.yaml imported, the file yields exactly 26 tickets: 15 refunds, 7 large
orders, 3 deleted customers and 1 digest for 119 inventory updates. Deterministic: running it
again writes the same file.  Usage: python examples/make_maxwell.py > examples/maxwell-prod.jsonl
"""

import json
import random

BASE_TS = 1763700000  # a multiple of 600: every line falls in one 10-minute window
rng = random.Random(7)


def row(kind, table, data, old=None, xid=0):
    event = {
        "database": "shop",
        "table": table,
        "type": kind,
        "ts": 0,
        "xid": xid,
        "commit": True,
        "data": data,
    }
    if old is not None:
        event["old"] = old
    return event


events = []
for i in range(1, 151):
    total = 1500 + i if i % 20 == 0 else 20 + i
    events.append(
        row("insert", "orders", {"id": i, "status": "new", "total": total, "card_number": f"4111{i:012d}"})
    )
for i in range(1, 151):
    status = "refunded" if i % 10 == 0 else "shipped"
    data = {"id": i, "status": status, "total": 20 + i, "card_number": f"4111{i:012d}"}
    events.append(row("update", "orders", data, old={"status": "paid"}))
for i in range(1, 61):
    events.append(
        row(
            "update",
            "customers",
            {"id": i, "email": f"c{i}@example.com", "password": "x"},
            old={"password": "y"},
        )
    )
for i in range(1, 4):
    # A JSON column holding secrets at depth: the tickets print it, redacted (see rules.yaml).
    profile = {"plan": "pro", "api_token": f"tok-demo-{i}", "devices": [{"push_secret": f"push-demo-{i}"}]}
    events.append(
        row("delete", "customers", {"id": 1000 + i, "email": f"gone{i}@example.com", "profile": profile})
    )
for i in range(1, 120):
    events.append(row("update", "inventory", {"sku": f"SKU-{i:04d}", "qty": i}, old={"qty": i + 1}))
rng.shuffle(events)

bootstrap = [{"database": "shop", "table": "products", "type": "bootstrap-start", "ts": 0, "data": {}}]
bootstrap += [row("bootstrap-insert", "products", {"id": i, "name": f"product {i}"}) for i in range(1, 11)]
bootstrap += [{"database": "shop", "table": "products", "type": "bootstrap-complete", "ts": 0, "data": {}}]
ddl = {
    "type": "table-alter",
    "database": "shop",
    "table": "orders",
    "old": {"database": "shop", "table": "orders"},
    "def": {"database": "shop", "table": "orders"},
    "ts": 0,
    "sql": "ALTER TABLE orders ADD COLUMN note TEXT",
}
events = bootstrap + events[:200] + [ddl] + events[200:]

lines = []
for n, event in enumerate(events):
    event["ts"] = BASE_TS + n // 2 if event["type"] != "table-alter" else (BASE_TS + n // 2) * 1000
    if "xid" in event:
        event["xid"] = 9000 + n
    lines.append(json.dumps(event, separators=(",", ":")))

broken = {
    17: '{"database":"shop","table":"orders","type":"insert","data":{"id":1',  # cut off
    101: '{"table":"orders","type":"insert","ts":1763700050,"data":{"id":5}}',  # no database
    # an unknown type
    250: '{"database":"shop","table":"orders","type":"upsert","ts":1763700125,"data":{"id":6}}',
    333: '{"database":"shop","type":"delete","ts":1763700166,"data":{"id":7}}',  # no table
    499: "maxwell: lost connection to MySQL, retrying",  # a log line in the stream
}
for lineno in sorted(broken):
    lines.insert(lineno - 1, broken[lineno])
assert len(lines) == 500, len(lines)
print("\n".join(lines))
