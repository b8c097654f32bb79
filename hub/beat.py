"""Beat with a leader: django-celery-beat's DatabaseScheduler behind a Redis lock, so that a
second beat (an orchestrator that started two, an operator who forgot one) stands by instead of
sending every schedule again, and takes over within about one lock TTL when the leader dies.

The lock is ``hub:beat:leader`` on the hub's Redis (REDIS_URL), holding ``host:pid:nonce`` of
the leader, with a TTL of HUB_BEAT_LOCK_SECONDS renewed on every tick. The leader renews it again
just before each send, so a beat that stalled past the TTL (the database hanging inside one tick)
finds it lost instead of sending beside its successor.

Redis unreachable: nobody can prove they lead, so nothing is sent (fail closed) until Redis
answers; each schedule then sends its one catch-up run. Every hub task needs Redis anyway (locks,
the Jira budget, hot state), and two beats both sending blind would double every schedule.

Catch-up after a pause (beat stopped, or standing by): celery's Scheduler sends a due entry once
and counts its next run from now (``ModelEntry.__next__`` sets ``last_run_at`` to now), so a
schedule missed ten times sends one run, not ten. The leader writes ``last_run_at`` just before
every send (``apply_entry``; and after it, ``beat_sync_every = 1``), and a beat that takes over
reads the schedule afresh, so a takeover repeats nothing the old leader sent: a leader killed
between the write and the send loses that one run instead.
"""

import os
import secrets
import socket

import redis
from celery.utils.log import get_logger
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry
from redis.exceptions import LockError
from redis.lock import Lock

from core.redis import hub_redis

LEADER_KEY = "hub:beat:leader"

logger = get_logger(__name__)


class LeaderScheduler(DatabaseScheduler):
    """A DatabaseScheduler that sends only while it holds the leader lock."""

    leading = False
    _said = ""  # the last state reported in the log, so that each change is said once

    def __init__(self, *args, **kwargs) -> None:
        # The token names this beat to the others (host:pid) and is never reused by a successor
        # (a restarted container is often pid 1 again).
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lock: Lock = hub_redis().lock(
            LEADER_KEY, timeout=settings.HUB_BEAT_LOCK_SECONDS, blocking=False, thread_local=False
        )
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        if not self.lead():
            return self.standby_interval()
        return min(super().tick(*args, **kwargs), self.renew_every())

    def apply_entry(self, entry: ModelEntry, producer=None) -> None:
        # The tick may have spent long in the database since it renewed: prove it once more.
        if not self.still_leading():
            logger.warning("beat: %s not sent: this beat cannot prove it leads", entry.name)
            # Not sent, so not run: the schedule is read again (its last run as it was) before
            # this beat sends anything, and the run goes out then if this beat leads.
            self._dirty.discard(entry.name)
            self.read_schedule_afresh()
            return
        # The run is written before it is sent, not after (celery syncs after the send): a leader
        # killed in between would leave its successor the last run before, and the successor would
        # send this one again. Killed after the write and before the send, the run is lost: the
        # next comes a period later.
        self.sync()
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        """On a clean stop, hand the lock over at once instead of after its TTL."""
        try:
            super().close()
        finally:
            if self.leading:
                self.step_down()
                try:
                    self.lock.release()
                except (LockError, redis.RedisError):
                    pass  # expired or unreachable: the TTL frees it

    # --- The lock -------------------------------------------------------------------------------

    def lead(self) -> bool:
        """Renew the lock if this beat leads, else try to take it; say in the log when that changes."""
        if self.leading:
            return self.still_leading()
        try:
            taken = self.lock.acquire(token=self.token)
            holder = None if taken else self.holder()
        except redis.RedisError as exc:
            self.say("unreachable", "beat: cannot reach Redis for the leader lock (%s); sending nothing", exc)
            return False
        if not taken:
            self.say("standby", "beat: another beat holds the leader lock (%s); standing by", holder)
            return False
        self.leading = True
        self.read_schedule_afresh()
        self.say("leading", "beat: took the leader lock (%s); sending schedules", self.token)
        return True

    def still_leading(self) -> bool:
        try:
            self.lock.reacquire()  # back to a full TTL, only if the token is still ours
        except LockError:  # expired, and perhaps taken: another beat may be sending (before
            # RedisError, of which it is a kind)
            self.step_down()
            self.say("lost", "beat: lost the leader lock (held by %s); standing by", self.holder_or_none())
            return False
        except redis.RedisError as exc:
            # Cannot prove it: send nothing now; the lock may still be ours when Redis answers.
            self.say("unreachable", "beat: cannot reach Redis for the leader lock (%s); sending nothing", exc)
            return False
        if self._said != "leading":
            self.say("leading", "beat: the leader lock answers again (%s); sending schedules", self.token)
        return True

    def step_down(self) -> None:
        """Forget what this beat meant to write: the next leader owns last_run_at now."""
        self.leading = False
        self._dirty.clear()

    def read_schedule_afresh(self) -> None:
        """Whatever this beat read before, another leader may have sent since: the next tick reads
        the schedule from the database and builds its heap from that, as DatabaseScheduler does
        when the schedule changed. (Rebuilding the heap from entries already held would send
        again what this beat sent: an entry keeps the last_run_at it was read with.)"""
        self._initial_read = True
        self._heap = []
        self._heap_invalidated = True

    def holder(self) -> str:
        value = hub_redis().get(LEADER_KEY)
        return value.decode(errors="replace") if value else "nobody, just now"

    def holder_or_none(self) -> str:
        try:
            return self.holder()
        except redis.RedisError:
            return "unknown"

    def say(self, state: str, message: str, *args) -> None:
        if state != self._said:
            (logger.info if state == "leading" else logger.warning)(message, *args)
            self._said = state

    def renew_every(self) -> float:
        return settings.HUB_BEAT_LOCK_SECONDS / 3

    def standby_interval(self) -> float:
        return min(self.max_interval, self.renew_every())
