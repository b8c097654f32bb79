"""OSS changes into the same pipeline as database changes: recorded, matched against
``source: oss`` rules, silenced, requested as tickets through the ledger."""

from collections import Counter, defaultdict
from typing import Any

from cdc_publisher.events import bounded_id
from notifications.models import Source
from rules.transform import BatchResult, transform_events

OSS_BATCH_VERSION = 1


def oss_batch(env: str, bucket: str, origin: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a check sends to ``oss:events``."""
    return {"v": OSS_BATCH_VERSION, "env": env, "bucket": bucket, "origin": origin, "changes": changes}


def process_oss_batch(batch: dict[str, Any]) -> BatchResult:
    env, bucket = batch["env"], batch["bucket"]
    parsed = []
    for position, change in enumerate(batch["changes"], start=1):
        event = {
            "database": bucket,
            "table": "",
            "type": change["change"],
            "ts": change["last_modified"],
            "bucket": bucket,
            **change,
        }
        # The same object changing again has a new ETag; a deletion is of the last one seen.
        event_id = bounded_id(f"{env}:oss:{bucket}:{change['key']}:{change['etag']}:{change['change']}")
        parsed.append((position, "", event, event_id))
    counts: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    return transform_events(env, Source.OSS, batch.get("origin", ""), parsed, [], counts)
