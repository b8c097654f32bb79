"""Hot state in Redis: what the live page and the API show for the last hours, cheap to read and
bounded by construction. PostgreSQL keeps the history (events, failures, daily statistics,
Celery task results); this keeps only what is recent.

Keys (all under ``hub:``):
- ``hub:jobs:<queue>:completed`` / ``:failed``: the newest finished jobs per queue, capped at
  RECENT_COMPLETED / RECENT_FAILED entries (LPUSH + LTRIM).
- ``hub:job:<task id>``: one job's metadata, expiring after HUB_HOT_RETENTION_HOURS.
- ``hub:active:<queue>``: jobs running now (task id -> name, start time, worker).
- ``hub:scheduled:<queue>``: jobs waiting for a countdown (a retry), task id scored by when.
- ``hub:rate:m:<env>:<minute>`` / ``hub:rate:h:<env>:<hour>``: daily-statistics counters
  (events, tickets, failures, ...) per minute (kept two hours) and per hour (kept the hot
  retention), so "per minute" and "last 24 h" come from Redis while older days come from
  DailyStat.
- ``hub:publisher:<env>``: what the environment's publisher last sent: its source, origin, last
  position and server identity, and when the hub received it (one small value per environment,
  kept until the next batch replaces it: its age is the point).
"""

import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.conf import settings

from core.broker import waiting_messages
from core.health import live_workers
from core.redis import hub_redis

RECENT_COMPLETED = 100
RECENT_FAILED = 1000
MINUTE_TTL = 2 * 3600

JOBS_KEY = "hub:jobs:{queue}:{kind}"
JOB_KEY = "hub:job:{task_id}"
ACTIVE_KEY = "hub:active:{queue}"
SCHEDULED_KEY = "hub:scheduled:{queue}"
MINUTE_KEY = "hub:rate:m:{env}:{minute}"
HOUR_KEY = "hub:rate:h:{env}:{hour}"
PUBLISHER_KEY = "hub:publisher:{env}"
PUBLISHER_FIELDS = ("source", "origin", "position", "server_id", "server_uuid", "log_file_created")


def hot_ttl() -> int:
    """Seconds a job's metadata and the hourly counters are kept."""
    return int(settings.HUB_HOT_RETENTION_HOURS * 3600)


def queue_names() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


# --- Jobs ---------------------------------------------------------------------------------------


def job_started(task_id: str, queue: str, name: str, worker: str = "") -> None:
    client = hub_redis()
    pipe = client.pipeline(transaction=False)
    entry = {"name": name, "started": time.time(), "worker": worker}
    pipe.hset(ACTIVE_KEY.format(queue=queue), task_id, orjson.dumps(entry))
    pipe.zrem(SCHEDULED_KEY.format(queue=queue), task_id)
    pipe.execute()


def job_scheduled(task_id: str, queue: str, when: float) -> None:
    """A job that will run again at ``when`` (epoch seconds): a retry with a countdown."""
    client = hub_redis()
    pipe = client.pipeline(transaction=False)
    pipe.hdel(ACTIVE_KEY.format(queue=queue), task_id)
    pipe.zadd(SCHEDULED_KEY.format(queue=queue), {task_id: when})
    pipe.execute()


def job_finished(job: dict[str, Any]) -> None:
    """Keep a finished job: in its queue's capped list and as metadata with a TTL.

    ``job`` needs ``id``, ``queue``, ``name`` and ``failed``; the rest (started, finished,
    runtime_ms, env, result, error, args) is shown as it is."""
    client = hub_redis()
    queue = job["queue"]
    kind, cap = ("failed", RECENT_FAILED) if job["failed"] else ("completed", RECENT_COMPLETED)
    data = orjson.dumps(job, default=str)
    key = JOBS_KEY.format(queue=queue, kind=kind)
    pipe = client.pipeline(transaction=False)
    pipe.hdel(ACTIVE_KEY.format(queue=queue), job["id"])
    pipe.lpush(key, data)
    pipe.ltrim(key, 0, cap - 1)
    pipe.set(JOB_KEY.format(task_id=job["id"]), data, ex=hot_ttl())
    pipe.execute()


def recent_jobs(
    queue: str | None = None, kind: str = "all", limit: int = 20, name: str = ""
) -> list[dict[str, Any]]:
    """The newest finished jobs, newest first: of one queue or all, completed, failed or both,
    of one task ``name`` or any (then the whole capped lists are read, to fill ``limit``)."""
    kinds = ["completed", "failed"] if kind == "all" else [kind]
    pipe = hub_redis().pipeline(transaction=False)
    for each_queue in [queue] if queue else queue_names():
        for each in kinds:
            pipe.lrange(JOBS_KEY.format(queue=each_queue, kind=each), 0, -1 if name else limit - 1)
    jobs = [orjson.loads(raw) for rows in pipe.execute() for raw in rows]
    jobs = [job for job in jobs if not name or job["name"] == name]
    jobs.sort(key=lambda job: job.get("finished") or 0, reverse=True)
    return jobs[:limit]


def job(task_id: str) -> dict[str, Any] | None:
    raw = hub_redis().get(JOB_KEY.format(task_id=task_id))
    return orjson.loads(raw) if raw else None


# --- Queues -------------------------------------------------------------------------------------


def queue_depths() -> list[dict[str, Any]]:
    """Per queue: waiting in the broker (Redis or RabbitMQ), running now, waiting for a countdown,
    and how many of the running are held by a worker that stopped announcing itself (killed: its
    message comes back once the broker sees it gone), with when the oldest of those started.
    Entries a killed worker left behind are dropped once older than CELERY_VISIBILITY_TIMEOUT (on
    Redis the message is redelivered then; on RabbitMQ it was at once, under the same task id)."""
    client = hub_redis()
    stale_before = time.time() - settings.CELERY_VISIBILITY_TIMEOUT
    alive = live_workers(client)
    names = queue_names()
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(ACTIVE_KEY.format(queue=name))
        pipe.zremrangebyscore(SCHEDULED_KEY.format(queue=name), "-inf", stale_before)
        pipe.zcard(SCHEDULED_KEY.format(queue=name))
    replies = pipe.execute()
    depths = []
    for i, (name, waiting) in enumerate(zip(names, waiting_messages(names), strict=True)):
        active, _, scheduled = replies[3 * i : 3 * i + 3]
        running = {tid: orjson.loads(raw) for tid, raw in active.items()}
        stale = [tid for tid, entry in running.items() if entry["started"] < stale_before]
        if stale:
            client.hdel(ACTIVE_KEY.format(queue=name), *stale)
        held = [
            entry["started"]
            for tid, entry in running.items()
            if tid not in stale and entry.get("worker") and entry["worker"] not in alive
        ]
        depths.append(
            {
                "name": name,
                "waiting": waiting,
                "active": len(active) - len(stale),
                "scheduled": scheduled,
                "held": len(held),
                "held_since": min(held, default=None),
            }
        )
    return depths


# --- Counters per minute and hour ---------------------------------------------------------------


def count(counts: Mapping[tuple[str, str, str], Mapping[str, int]], now: float | None = None) -> None:
    """Add daily-statistics counts (keyed environment, source, rule) to this minute and hour."""
    now = now or time.time()
    minute, hour = int(now // 60), int(now // 3600)
    totals: dict[str, dict[str, int]] = {}
    for (env, _source, _rule), values in counts.items():
        for name, value in values.items():
            if value:
                totals.setdefault(env, {}).setdefault(name, 0)
                totals[env][name] += value
    if not totals:
        return
    pipe = hub_redis().pipeline(transaction=False)
    for env, values in totals.items():
        for key, ttl in ((MINUTE_KEY.format(env=env, minute=minute), MINUTE_TTL),
                         (HOUR_KEY.format(env=env, hour=hour), hot_ttl())):  # fmt: skip
            for name, value in values.items():
                pipe.hincrby(key, name, value)
            pipe.expire(key, ttl)
    pipe.execute()


def per_minute(
    envs: Iterable[str], names: Iterable[str], minutes: int = 60, now: float | None = None
) -> dict[str, dict[str, list[int]]]:
    """{env: {name: [count per minute, oldest first, the current minute last]}}."""
    return _series(MINUTE_KEY, "minute", 60, envs, names, minutes, now)


def per_hour(
    envs: Iterable[str], names: Iterable[str], hours: int = 24, now: float | None = None
) -> dict[str, dict[str, list[int]]]:
    return _series(HOUR_KEY, "hour", 3600, envs, names, hours, now)


def _series(pattern, field, width, envs, names, length, now) -> dict[str, dict[str, list[int]]]:
    last = int((now or time.time()) // width)
    slots = range(last - length + 1, last + 1)
    envs, names = list(envs), list(names)
    pipe = hub_redis().pipeline(transaction=False)
    for env in envs:
        for slot in slots:
            pipe.hmget(pattern.format(env=env, **{field: slot}), names)
    replies = iter(pipe.execute())
    series = {env: {name: [] for name in names} for env in envs}
    for env in envs:
        for _ in slots:
            for name, value in zip(names, next(replies), strict=True):
                series[env][name].append(int(value or 0))
    return series


# --- Publishers ---------------------------------------------------------------------------------


def publisher_seen(env: str, status: Mapping[str, Any], now: float | None = None) -> None:
    """Note a batch from ``env``'s publisher: ``status`` holds PUBLISHER_FIELDS. Of two batches
    processed at once by two workers, the later write wins: the position can step back by a batch
    until the next one, the age stays right."""
    record = {name: status.get(name) for name in PUBLISHER_FIELDS}
    hub_redis().set(
        PUBLISHER_KEY.format(env=env), orjson.dumps({**record, "received_at": now or time.time()})
    )


def publishers(envs: Iterable[str], now: float | None = None) -> list[dict[str, Any]]:
    """Per environment, its publisher's last batch (PUBLISHER_FIELDS, ``received_at`` in epoch
    seconds and ``age_seconds``), or only the environment's name if none has come."""
    envs = list(envs)
    now = now or time.time()
    replies = hub_redis().mget([PUBLISHER_KEY.format(env=env) for env in envs]) if envs else []
    out = []
    for env, raw in zip(envs, replies, strict=True):
        status = orjson.loads(raw) if raw else {}
        age = max(0.0, now - status["received_at"]) if status else None
        out.append({"environment": env, **status, "age_seconds": age})
    return out
