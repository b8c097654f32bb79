"""A bucket's check lock: never two checks of one bucket at once, and a check that dies frees its
bucket within OSS_CHECK_LOCK_SECONDS.

The lock (``hub:oss:check:<watch id>`` in the hub's Redis) has a short TTL that the running check
keeps renewing: a thread renews it every third of the TTL, so a check stalled inside one slow
listing call keeps it as long as its process lives, and the check itself renews it again before
each page and each write (``hold``). A check that finds it lost (its process was frozen past
the TTL, or Redis lost it) stops there: another check may own the bucket now, so it writes and
sends nothing more, and leaves the watch's record to that check.
"""

import logging
import threading

import redis
from django.conf import settings
from redis.exceptions import LockError

from core.redis import hub_redis

logger = logging.getLogger(__name__)


class LockLost(Exception):
    """This check no longer holds its bucket's lock: it stops without writing anything more."""


class CheckLock:
    def __init__(self, watched_id: int, ttl: float | None = None) -> None:
        self.name = f"hub:oss:check:{watched_id}"
        self.ttl = ttl or settings.OSS_CHECK_LOCK_SECONDS
        # Not thread-local: the renewing thread uses the token the check's thread acquired with.
        self.lock = hub_redis().lock(self.name, timeout=self.ttl, blocking=False, thread_local=False)
        self.lost = threading.Event()
        self.done = threading.Event()
        self.renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.lock.acquire():
            return False
        self.renewer = threading.Thread(target=self.renew, name=f"renew {self.name}", daemon=True)
        self.renewer.start()
        return True

    def renew(self) -> None:
        while not self.done.wait(self.ttl / 3):
            try:
                self.lock.reacquire()  # back to a full TTL, only while the token is ours
            except LockError:
                self.lost.set()
                return
            except redis.RedisError as exc:  # unreachable for now: the next try, or the TTL, decides
                logger.warning("cannot renew %s: %s", self.name, exc)

    def hold(self) -> None:
        """Prove the lock is still this check's, for another full TTL; raise LockLost if not."""
        if self.lost.is_set():
            raise LockLost(f"lost {self.name}: another check may be running")
        try:
            self.lock.reacquire()
        except LockError as exc:
            self.lost.set()
            raise LockLost(f"lost {self.name}: another check may be running") from exc
        except redis.RedisError as exc:
            raise LockLost(f"cannot confirm {self.name}: {exc}") from exc

    def release(self) -> None:
        self.done.set()
        if self.renewer is not None:
            self.renewer.join()
        try:
            self.lock.release()
        except (LockError, redis.RedisError):
            pass  # expired or taken meanwhile: nothing of ours to release; or the TTL frees it
