"""One check of a watched bucket: its listing merged, in key order, with the fingerprints the
last check stored, so memory stays flat at millions of objects. Changes become events, sent in
batches; only what changed is written. A listing that fails part-way is never read as "the rest
was deleted": deletions are only those keys the listing has provably passed.

A batch's events are sent before its fingerprints are written: a check that dies between the two
leaves those changes to be found, and sent, again by the next check, where the transform drops
the exact repeats (an OSS event's id is its key, ETag and change). The other way round, they
would be lost. Before each page and each write the check proves it still holds its bucket
(``hold``, see oss_watch.lock): one that lost it stops without writing anything more."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from oss_watch.listing import Lister, ListingError, ObjectInfo
from oss_watch.models import ObjectFingerprint, WatchedBucket

BATCH = 500
Emit = Callable[[list[dict[str, Any]]], None]
Hold = Callable[[], None]


def always_held() -> None:
    """No lock to prove: a check run by hand, or in a benchmark."""


@dataclass
class CheckResult:
    listed: int = 0
    created: int = 0
    modified: int = 0
    deleted: int = 0
    calls: int = 0
    baseline: bool = False
    quiet: bool = False  # a first check that records the baseline without events
    error: str = ""
    sent: list[int] = field(default_factory=list)  # events per emitted batch


class Changes:
    """Changes found so far: written and emitted every BATCH."""

    def __init__(self, watched: WatchedBucket, emit: Emit | None, result: CheckResult, hold: Hold) -> None:
        self.watched, self.emit, self.result, self.hold = watched, emit, result, hold
        self.upserts: list[ObjectFingerprint] = []
        self.deletes: list[str] = []
        self.events: list[dict[str, Any]] = []

    def add(self, change: str, obj: ObjectInfo) -> None:
        setattr(self.result, change, getattr(self.result, change) + 1)
        if change == "deleted":
            self.deletes.append(obj.key)
        else:
            fingerprint = ObjectFingerprint(
                watched=self.watched,
                key=obj.key,
                etag=obj.etag,
                size=obj.size,
                last_modified=obj.last_modified,
            )
            self.upserts.append(fingerprint)
        if self.emit is not None:
            self.events.append({"change": change, "key": obj.key, "etag": obj.etag, "size": obj.size,
                                "last_modified": obj.last_modified})  # fmt: skip
        if len(self.upserts) + len(self.deletes) >= BATCH:
            self.flush()

    def flush(self) -> None:
        self.hold()
        if self.events:  # sent first: see the module's docstring
            self.emit(self.events)
            self.result.sent.append(len(self.events))
        if self.upserts:
            ObjectFingerprint.objects.bulk_create(
                self.upserts, update_conflicts=True, unique_fields=["watched", "key"],
                update_fields=["etag", "size", "last_modified"],
            )  # fmt: skip
        if self.deletes:
            ObjectFingerprint.objects.filter(watched=self.watched, key__in=self.deletes).delete()
        self.upserts, self.deletes, self.events = [], [], []


def check_bucket(watched: WatchedBucket, lister: Lister, emit: Emit, hold: Hold = always_held) -> CheckResult:
    """Compare the bucket with what the last check saw; emit created/modified/deleted events (none
    on the first check unless the watch asks for them). ``hold`` raises LockLost once the check
    no longer holds its bucket: then nothing more is written, sent or recorded."""
    result = CheckResult(baseline=not watched.baselined)
    result.quiet = result.baseline and not watched.events_on_first_check
    changes = Changes(watched, None if result.quiet else emit, result, hold)
    stored = stored_fingerprints(watched)
    current = next(stored, None)
    try:
        for page in lister.pages():
            hold()  # the call may have been long: is the bucket still this check's?
            for obj in page:
                result.listed += 1
                while current is not None and current.key < obj.key:
                    changes.add("deleted", current)
                    current = next(stored, None)
                if current is not None and current.key == obj.key:
                    if (current.etag, current.size) != (obj.etag, obj.size):
                        changes.add("modified", obj)
                    current = next(stored, None)
                else:
                    changes.add("created", obj)
        while current is not None:  # the listing is complete: what is left is gone
            changes.add("deleted", current)
            current = next(stored, None)
    except ListingError as exc:
        result.error = str(exc)
    finally:
        result.calls = lister.calls
    # What was found before a listing failed is kept: the listing had passed those keys. Any
    # other failure (the lock lost, the database or the broker down) writes nothing more.
    changes.flush()
    return record_check(watched, result)


def record_check(watched: WatchedBucket, result: CheckResult) -> CheckResult:
    """Note a check on its watch: when, its error if any, how many objects it knows."""
    # A complete listing left the fingerprints equal to it; after a failure, count them.
    known = result.listed if not result.error else ObjectFingerprint.objects.filter(watched=watched).count()
    WatchedBucket.objects.filter(pk=watched.pk).update(
        last_checked_at=timezone.now(),
        last_error=result.error,
        objects_known=known,
        baselined=watched.baselined or not result.error,
    )
    return result


def stored_fingerprints(watched: WatchedBucket) -> Iterator[ObjectInfo]:
    rows = (
        ObjectFingerprint.objects.filter(watched=watched)
        .order_by("key")  # the column's collation is "C": byte order, as OSS lists
        .values_list("key", "etag", "size", "last_modified")
        .iterator(chunk_size=5000)
    )
    return (ObjectInfo(*row) for row in rows)
