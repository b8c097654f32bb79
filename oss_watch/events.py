"""OSS changes into the same pipeline as database changes: recorded, matched against
``source: oss`` rules, silenced, requested as tickets through the ledger."""

from typing import Any

from cdc_publisher.events import bounded_id
from notifications.fields import exact_json
from notifications.models import Source
from pipeline.batches import process_lines
from pipeline.transform import BatchResult, Lines, NotABatch, Parsed, bad_line

OSS_BATCH_VERSION = 1
CHANGE_KEYS = ("key", "etag", "change")


def oss_batch(env: str, bucket: str, origin: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a check sends to ``oss:events``."""
    return {"v": OSS_BATCH_VERSION, "env": env, "bucket": bucket, "origin": origin, "changes": changes}


def oss_lines(batch: Any) -> Lines:
    """A check's batch as events to transform; a change that is not one is bad input, a payload
    that is not a batch raises NotABatch."""
    if not isinstance(batch, dict) or batch.get("v") != OSS_BATCH_VERSION:
        raise NotABatch(f"not a version {OSS_BATCH_VERSION} OSS batch")
    if not isinstance(batch.get("bucket"), str) or not isinstance(batch.get("changes"), list):
        raise NotABatch("needs a 'bucket' string and a 'changes' list")
    env, bucket, origin = str(batch.get("env", "")), batch["bucket"], str(batch.get("origin", ""))
    parsed, errors = [], []
    for position, change in enumerate(batch["changes"], start=1):
        if not isinstance(change, dict) or not all(isinstance(change.get(k), str) for k in CHANGE_KEYS):
            reason = f"a change needs {', '.join(CHANGE_KEYS)} as strings"
            errors.append(bad_line(env, origin, position, exact_json(change), reason, Source.OSS))
            continue
        event = {
            "database": bucket,
            "table": "",
            "type": change["change"],
            "ts": change.get("last_modified"),
            "bucket": bucket,
            **change,
        }
        # The same object changing again has a new ETag; a deletion is of the last one seen.
        event_id = bounded_id(f"{env}:oss:{bucket}:{change['key']}:{change['etag']}:{change['change']}")
        parsed.append(Parsed(position, event, event_id))
    return Lines(env, Source.OSS, origin, parsed, errors)


def process_oss_batch(batch: dict[str, Any]) -> BatchResult:
    return process_lines(oss_lines(batch))
