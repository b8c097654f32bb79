"""The fault suite: each fault on real processes the run starts itself — its own redis-server (with
and without an append-only file), its own PostgreSQL cluster (initdb in a temporary folder), the
hub's worker and beat as the Procfile starts them, the publisher, the fake Jira and the fake OSS —
never the machine's services (on RabbitMQ: a vhost of its own).

    python -m bench.faults [--broker redis|rabbitmq] [--only NAME ...] [--small] [--keep]

Each fault gets a fresh database and broker and the hub's default settings (a row's note names any
it changes). It prints a table: fault, events in, tickets expected, tickets created, duplicates,
tickets lost, events lost, and seconds from the fault to the last expected ticket (“-”: not within
the wait, see the note). ``pytest tests/faults -s`` runs the same faults, smaller.
"""

import argparse
import datetime
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
import redis

from bench.services import (
    PERSISTENCE,
    Broker,
    CuttableProxy,
    Hub,
    PostgresCluster,
    feed,
    make_broker,
    stop_process,
    wait_until,
)
from tests.fakes.jira import FakeJira
from tests.fakes.oss import FakeOSS

RULES = """\
version: 1
rules:
  - name: refunds
    source: cdc
    environments: [prod]
    match: {database: shop, table: orders, type: [update], where: {data.status: {equals: refunded}}}
    ticket: {project: OPS, summary: "Order {{ data.id }} refunded in {{ env }}", labels: [faults]}
  - name: oss-alerts
    source: oss
    match: {bucket: faults, prefix: alert/, change: [created]}
    ticket: {project: OPS, summary: "New {{ key }} in {{ bucket }}", labels: [faults]}
"""
EMPTY_LOOKS = 3  # the broker seen empty this many times in a row (half a second apart) is empty
QUIET_SECONDS = 20.0  # nothing moved for this long, the ledger settled, the broker empty: it is over
LINGER_SECONDS = 3.0  # after the last expected ticket, a look for late duplicates


@dataclass(frozen=True)
class Sizes:
    """How big each fault is. ``bound`` is the longest wait for recovery (Jira's own is longer:
    with default settings a create cut short waits out its lease and the requeue schedule)."""

    events: int = 5000  # CDC events per fault; one batch must take the worker well over 0.1 s
    ticket_every: int = 50  # one refund (one ticket) in this many events
    jira_tickets: int = 30
    oss_objects: int = 2000  # in the bucket before the check
    oss_new: int = 1200  # created before the check; more than one flush (500) before page 2
    oss_alert_every: int = 30  # one alert/ key (one ticket) in this many
    outage: float = 60.0  # seconds the broker is unreachable for the publisher
    # For the mid-batch kill on Redis: None, the hub's default (300 s), the bound on Redis.
    visibility_timeout: int | None = None
    beats_together: float = 40.0  # seconds two beats run side by side before the leader is killed
    bound: float = 420.0  # over the default visibility timeout, and the OSS lock (60 s)
    jira_bound: float = 300.0


# Fewer events and a shorter outage (the test suite's, which also shortens the visibility timeout).
SMALL = Sizes(events=2000, jira_tickets=15, oss_objects=1000, oss_new=1100, outage=15.0)


@dataclass
class Row:
    fault: str
    broker: str
    events_in: int = 0
    events_recorded: int = 0
    tickets_expected: int = 0
    created: int = 0
    duplicates: int = 0
    lost: int = 0  # expected tickets that do not exist
    recovered: float | None = None  # seconds from the fault to the last expected ticket
    note: str = ""
    applicable: bool = True  # False: the fault cannot be made here, the note says why

    @property
    def events_lost(self) -> int:
        return self.events_in - self.events_recorded

    def cells(self) -> list[str]:
        if not self.applicable:
            return [self.fault, *["-"] * 7, self.note]
        seconds = f"{self.recovered:.0f}" if self.recovered is not None else "-"
        counts = [self.events_in, self.tickets_expected, self.created, self.duplicates, self.lost]
        return [self.fault, *map(str, counts), str(self.events_lost), seconds, self.note]


HEADER = ["fault", "events in", "tickets expected", "created", "duplicates", "lost", "events lost",
          "s to recover", "note"]  # fmt: skip


def table(rows: list[Row], broker: str) -> str:
    """A Markdown table, so the closing note can carry it as printed."""
    lines = [f"Fault suite on {broker}", "", "| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


# --- Workloads ---------------------------------------------------------------------------------------


def cdc_workload(count: int, ticket_every: int, first: int = 1) -> tuple[bytes, set[str]]:
    """Maxwell lines: one refund (a ticket) in ``ticket_every``, the others new orders no rule
    wants. Returns the lines and the summaries of the tickets they call for."""
    lines, expected = [], set()
    for n in range(first, first + count):
        event = {"database": "shop", "table": "orders", "ts": 1763700000, "xid": n, "data": {"id": n}}
        if n % ticket_every == 0:
            event.update(type="update", old={"status": "paid"})
            event["data"]["status"] = "refunded"
            expected.add(f"Order {n} refunded in prod")
        else:
            event.update(type="insert")
            event["data"]["status"] = "new"
        lines.append(json.dumps(event))
    return ("\n".join(lines) + "\n").encode(), expected


def split(data: bytes, parts: int) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    size = -(-len(lines) // parts)
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


# --- One fault's stage ---------------------------------------------------------------------------------


@dataclass
class Counts:
    events: int
    unsettled: int  # ticket requests reserved, creating or ambiguous
    outbox: list[str] = field(default_factory=list)  # outbox tickets' summaries


class Stage:
    """A fresh database and broker, the hub's processes on them, and what can be read of them."""

    def __init__(self, cluster: PostgresCluster, database: str, broker: Broker, hub: Hub) -> None:
        self.cluster, self.database, self.broker, self.hub = cluster, database, broker, hub
        self.tickets: Callable[[], list[str]] = lambda: self.counts().outbox

    def counts(self, source: str = "cdc") -> Counts | None:
        """What the hub has recorded; None while its database cannot be read (being restarted)."""
        try:
            with self.cluster.connect(self.database) as conn:
                events = conn.execute("SELECT count(*) FROM notifications_event WHERE source = %s", [source])
                unsettled = conn.execute(
                    "SELECT count(*) FROM jira_bridge_ticketrequest"
                    " WHERE state IN ('reserved', 'creating', 'ambiguous')"
                )
                outbox = conn.execute("SELECT fields->>'summary' FROM jira_bridge_outboxticket")
                return Counts(events.fetchone()[0], unsettled.fetchone()[0], [r[0] for r in outbox])
        except psycopg.OperationalError:
            return None

    def batch_in_progress(self) -> bool:
        """A transaction of the hub's open for over 0.1 s: the worker inside a batch (beat's and
        the bookkeeping's are far shorter)."""
        try:
            with self.cluster.connect(self.database) as conn:
                found = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                    " AND state IN ('active', 'idle in transaction')"
                    " AND now() - xact_start > interval '0.1 seconds'",
                    [self.database],
                )
                return found.fetchone()[0] > 0
        except psycopg.OperationalError:
            return False

    def oss_lock_seconds(self) -> int:
        """The hub's OSS_CHECK_LOCK_SECONDS, as its processes read it."""
        read = "from django.conf import settings; print(settings.OSS_CHECK_LOCK_SECONDS)"
        said = self.hub.manage("shell", "-c", read)
        return int(said.split()[-1])  # after what the shell says it imported

    def settle(
        self,
        row: Row,
        expected: set[str],
        since: float,
        bound: float,
        source: str = "cdc",
        quiet: float = QUIET_SECONDS,
    ) -> Row:
        """Wait until every event is recorded and every expected ticket exists (recovered), or
        until nothing moves for ``quiet`` seconds (what is missing is lost), or ``bound``; fill in
        the row. A fault whose work waits for a lock to expire needs ``quiet`` over the lock's TTL."""
        last, last_change, seen_empty = None, time.monotonic(), 0
        while True:
            now = time.monotonic()
            counts = self.counts(source)
            if counts is not None:
                made = set(self.tickets())
                if counts.events >= row.events_in and made >= expected and counts.unsettled == 0:
                    row.recovered = now - since
                    time.sleep(LINGER_SECONDS)
                    break
                state = (counts.events, counts.unsettled, len(made))
                if state != last:
                    last, last_change, seen_empty = state, now, 0
                elif counts.unsettled == 0 and now - last_change > quiet:
                    # Nothing left that could still come: the broker empty on several looks in a
                    # row, since one look can fall between a worker's pop of a message and its
                    # note of it as unacknowledged (kombu on Redis), when the broker holds nothing.
                    seen_empty = seen_empty + 1 if self.broker.waiting() == 0 else 0
                    if seen_empty >= EMPTY_LOOKS:
                        row.note = join(row.note, f"nothing moved for {quiet:.0f} s, the broker empty")
                        break
            if now - since > bound:
                row.note = join(row.note, f"gave up after {bound:.0f} s")
                break
            time.sleep(0.5)
        counts = wait_until(lambda: self.counts(source), 60, "the database")
        made = self.tickets()
        row.events_recorded = counts.events
        row.tickets_expected = len(expected)
        row.created = len(made)
        row.duplicates = len(made) - len(set(made))
        row.lost = len(expected - set(made))
        return row


def join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


class FaultRun:
    """One run of the suite: a PostgreSQL cluster (a migrated template database, copied for each
    fault), and a stage per fault on the chosen broker."""

    def __init__(self, broker: str, sizes: Sizes, root: Path, rabbitmq_url: str = "") -> None:
        self.broker_kind, self.sizes, self.root = broker, sizes, root
        self.rabbitmq_url = rabbitmq_url  # whose vhosts a run on RabbitMQ uses (tests/brokers.py's default)
        self.rules = root / "rules.yaml"
        self.rules.write_text(RULES)
        # A folder of its own in /tmp: the cluster may run as postgres, which must reach it (and
        # may not reach into root's, such as pytest's).
        self.pg_root = Path(tempfile.mkdtemp(prefix="hub-faults-pg-"))
        self.pg_root.chmod(0o755)
        self.cluster = PostgresCluster(self.pg_root / "cluster")
        self.cluster.start()
        self._numbers = itertools.count(1)
        self._template_ready = False

    def close(self) -> None:
        self.cluster.stop()
        shutil.rmtree(self.pg_root, ignore_errors=True)

    @contextmanager
    def stage(self, name: str, persistence: str = "always", beat: bool = True, **env: str) -> Iterator[Stage]:
        """A fresh database and broker, the rules imported and, unless ``beat`` is False, beat
        started (it sends again what a lost message left waiting: part of every deployment)."""
        directory = self.root / f"{next(self._numbers):02d}-{name}"
        broker = make_broker(self.broker_kind, directory / "broker", persistence, self.rabbitmq_url)
        hub = None
        try:
            database = f"hub_{directory.name.replace('-', '_')}"
            hub_env = {"REDIS_URL": broker.hot_url(), "CELERY_BROKER_URL": broker.url(), **env}
            if not self._template_ready:  # migrating once, then copying, saves ~20 s a fault
                self.cluster.create_database("hub_template")
                template = {**hub_env, "DATABASE_URL": self.cluster.url("hub_template")}
                Hub(directory / "template", template).manage("migrate", "--no-input")
                self._template_ready = True
            self.cluster.create_database(database, template="hub_template")
            hub = Hub(directory, {**hub_env, "DATABASE_URL": self.cluster.url(database)})
            hub.manage("import_rules", str(self.rules))
            if beat:
                hub.start_beat()
            yield Stage(self.cluster, database, broker, hub)
        finally:
            if hub is not None:
                hub.stop()
            broker.close()


# --- The faults --------------------------------------------------------------------------------------


def worker_killed_mid_batch(run: FaultRun) -> Row:
    """A worker SIGKILLed inside a batch's transaction; another worker is started. On Redis the
    batch comes back after the visibility timeout (the hub's default, 300 s, unless the sizes
    shorten it); on RabbitMQ as soon as the broker sees the killed worker's connection close."""
    s = run.sizes
    lines, expected = cdc_workload(s.events, s.ticket_every)
    env, shortened = {}, run.broker_kind == "redis" and s.visibility_timeout is not None
    if shortened:  # the hub refuses a visibility timeout not above its longest holds (jira_bridge.E001)
        hold = max(s.visibility_timeout // 3, 1)
        env = {"CELERY_VISIBILITY_TIMEOUT": str(s.visibility_timeout), "JIRA_BACKOFF_MAX": str(hold),
               "JIRA_TIMEOUT": str(hold / 2), "HUB_BATCH_SECONDS": str(hold)}  # fmt: skip
    with run.stage("worker-kill-batch", **env) as st:
        row = Row("worker SIGKILL mid-batch (CDC)", st.broker.name, events_in=s.events)
        worker = st.hub.start_worker()
        feed(st.hub.start_publisher("prod", "--batch-size", str(s.events)), lines, close=True)
        wait_until(st.batch_in_progress, 60, "the batch's transaction", interval=0.01)
        st.hub.kill(worker)
        killed_at = time.monotonic()
        committed = st.counts().events
        st.hub.start_worker()
        where = f"killed after {committed} events" if committed else "killed inside the batch's transaction"
        if shortened:
            why = f"CELERY_VISIBILITY_TIMEOUT={s.visibility_timeout} here (default 300, the bound on Redis)"
        elif run.broker_kind == "redis":
            why = "default CELERY_VISIBILITY_TIMEOUT (300 s): the batch comes back after it"
        else:
            why = "no visibility timeout: the connection's close gives the batch back"
        row.note = join(where, why)
        return st.settle(row, expected, killed_at, s.bound)


def worker_killed_mid_create(run: FaultRun) -> Row:
    """A worker SIGKILLed while a create is on the wire to Jira (Jira made the issue, the answer
    never came), with the hub's default Jira timings; beat and another worker running."""
    s = run.sizes
    lines, expected = cdc_workload(s.jira_tickets, 1)
    with FakeJira() as jira:
        jira_env = {"JIRA_URL": jira.url, "JIRA_USER": "hub-bot", "JIRA_API_TOKEN": "test-token"}
        with run.stage("worker-kill-create", **jira_env) as st:
            row = Row("worker SIGKILL mid-create (Jira)", st.broker.name, events_in=s.jira_tickets)
            st.tickets = lambda: [issue["fields"]["summary"] for issue in list(jira.issues.values())]
            jira.latency = 0.05
            worker = st.hub.start_worker()
            feed(st.hub.start_publisher("prod"), lines, close=True)
            wait_until(lambda: len(jira.issues) >= s.jira_tickets // 3, 120, "the first tickets")
            jira.slow_next(1, 120.0)  # the next create is made, and its answer held back
            wait_until(lambda: not jira.faults, 60, "a create on the wire")
            time.sleep(0.2)
            st.hub.kill(worker)
            killed_at = time.monotonic()
            st.hub.start_worker()
            row.note = (
                "default Jira timings (lease 2 x JIRA_TIMEOUT + JIRA_LEASE_MARGIN: 50 s; requeue every 15 s)"
            )
            return st.settle(row, expected, killed_at, s.jira_bound)


def broker_restarted(persistence: str) -> Callable[[FaultRun], Row]:
    def fault(run: FaultRun) -> Row:
        """redis-server restarted while the publisher sends batches and a worker is behind."""
        s = run.sizes
        lines, expected = cdc_workload(s.events, s.ticket_every)
        first, second = split(lines, 2)
        with run.stage(f"broker-restart-{persistence}", persistence=persistence) as st:
            title = "Redis restarted, " + st.broker.name.removeprefix("redis (").removesuffix(")")
            row = Row(title, st.broker.name, events_in=s.events)
            st.hub.start_worker()
            publisher = st.hub.start_publisher("prod", "--batch-size", "50")
            feed(publisher, first)
            wait_until(lambda: st.broker.queued("cdc:prod") >= 5, 60, "batches waiting in the broker")
            waiting = st.broker.waiting()
            st.broker.restart()
            restarted_at = time.monotonic()
            feed(publisher, second, close=True)
            publisher.wait(timeout=120)
            row.note = join(f"{waiting} messages held at the restart", st.broker.restart_means)
            return st.settle(row, expected, restarted_at, s.bound)

    return fault


def rabbitmq_restarted(run: FaultRun) -> Row:
    """A RabbitMQ node of the run's own crashed (SIGKILL) and started again while the publisher
    sends batches and a worker is behind: confirmed messages in durable quorum queues survive."""
    s = run.sizes
    lines, expected = cdc_workload(s.events, s.ticket_every)
    first, second = split(lines, 2)
    with run.stage("broker-restart-rabbitmq", persistence="own-node") as st:
        row = Row("RabbitMQ restarted", st.broker.name, events_in=s.events)
        publisher = st.hub.start_publisher("prod", "--batch-size", "50")
        feed(publisher, first)
        # (RabbitMQ counts a queue's messages every few seconds: the worker starts once it has)
        wait_until(lambda: st.broker.queued("cdc:prod") >= 5, 60, "batches waiting in the broker")
        st.hub.start_worker()
        time.sleep(1.0)  # the worker under way through them when the broker goes
        waiting = st.broker.waiting()
        st.broker.restart()
        restarted_at = time.monotonic()
        feed(publisher, second, close=True)
        publisher.wait(timeout=180)
        row.note = join(f"{waiting} messages held at the restart", st.broker.restart_means)
        return st.settle(row, expected, restarted_at, s.bound)


def postgres_restarted(run: FaultRun) -> Row:
    """PostgreSQL restarted (immediate: every backend killed, crash recovery) inside a batch."""
    s = run.sizes
    lines, expected = cdc_workload(s.events, s.ticket_every)
    with run.stage("postgres-restart") as st:
        row = Row("PostgreSQL restarted under a batch", st.broker.name, events_in=s.events)
        st.hub.start_worker()
        feed(st.hub.start_publisher("prod", "--batch-size", str(s.events)), lines, close=True)
        wait_until(st.batch_in_progress, 60, "the batch's transaction", interval=0.01)
        run.cluster.restart("immediate")
        restarted_at = time.monotonic()
        row.note = "pg_ctl stop -m immediate, then start"
        return st.settle(row, expected, restarted_at, s.bound)


def broker_unreachable(run: FaultRun) -> Row:
    """The publisher cut off from the broker (a proxy between them refuses it) for ``outage``
    seconds while lines keep coming; the hub's own connections stay up."""
    s = run.sizes
    lines, expected = cdc_workload(s.events, s.ticket_every)
    first, during, after = split(lines, 3)
    with run.stage("broker-unreachable") as st:
        row = Row(f"broker unreachable {s.outage:.0f} s (publisher)", st.broker.name, events_in=s.events)
        proxy = CuttableProxy(st.broker.address())
        try:
            st.hub.start_worker()
            url = re.sub(r"(@|//)127\.0\.0\.1:\d+", rf"\g<1>127.0.0.1:{proxy.port}", st.broker.url())
            publisher = st.hub.start_publisher("prod", "--batch-size", "100", CELERY_BROKER_URL=url)
            feed(publisher, first)
            sent = len(first.splitlines())
            wait_until(lambda: (st.counts() or Counts(0, 0)).events >= sent, 60, "the first part recorded")
            proxy.cut()
            for piece in split(during, 10):  # lines keep arriving through the outage
                feed(publisher, piece)
                time.sleep(s.outage / 10)
            proxy.mend()
            mended_at = time.monotonic()
            feed(publisher, after, close=True)
            publisher.wait(timeout=120)
            spooled = publisher.log.read_text().count("the broker did not take a batch")
            row.note = f"spooled: {'yes' if spooled else 'no'}; recovery counted from the broker's return"
            return st.settle(row, expected, mended_at, s.bound)
        finally:
            proxy.close()


OSS_ENV = {"FAULTS_OSS_AK": "test-ak", "FAULTS_OSS_SK": "test-sk"}


def watched_bucket_with_changes(oss: FakeOSS, st: Stage, s: Sizes) -> set[str]:
    """A bucket of ``oss_objects`` watched and checked once (the baseline), then ``oss_new``
    objects put in it; the tickets the rules make of them (one per alert/ key)."""
    oss.buckets["faults"] = {f"data/{i:07d}": (f"etag-{i}", 1, 1763700000) for i in range(s.oss_objects)}
    where = ["--env", "prod", "--endpoint", oss.url, "--bucket", "faults"]
    st.hub.manage("watch_bucket", *where, "--access-key-env", "FAULTS_OSS_AK", "--secret-key-env",
                  "FAULTS_OSS_SK", "--interval", "5")  # fmt: skip
    st.hub.manage("watch_bucket", *where, "--check-now")  # the baseline
    expected = set()
    for i in range(s.oss_new):  # alert/ and batch/ sort before data/: they fill page 1
        key = f"alert/{i:05d}" if i % s.oss_alert_every == 0 else f"batch/{i:05d}"
        oss.put("faults", key, f"new-{i}")
        if key.startswith("alert/"):
            expected.add(f"New {key} in faults")
    return expected


def worker_killed_mid_check(run: FaultRun) -> Row:
    """A worker SIGKILLed half-way through an OSS check (page 2 of the listing asked for, the
    first changes already emitted); beat's next check after the lock finds the rest."""
    s = run.sizes
    with FakeOSS() as oss, run.stage("worker-kill-oss", beat=False, **OSS_ENV) as st:
        row = Row("worker SIGKILL mid OSS check", st.broker.name, events_in=s.oss_new)
        expected = watched_bucket_with_changes(oss, st, s)
        oss.latency = 1.0
        calls = oss.list_calls
        worker = st.hub.start_worker()
        st.hub.start_beat()
        wait_until(lambda: oss.list_calls >= calls + 2, 60, "page 2 of a check's listing")
        st.hub.kill(worker)
        killed_at = time.monotonic()
        st.hub.start_worker()
        row.note = (
            "default OSS_CHECK_LOCK_SECONDS (60 s): the next check runs once the dead one's lock expires"
        )
        quiet = st.oss_lock_seconds() + QUIET_SECONDS  # the next check waits for the dead lock
        return st.settle(row, expected, killed_at, s.bound, source="oss", quiet=quiet)


# --- Beat's faults: what is counted is beat's sends (read from its log), not tickets ---------------

SENDING = re.compile(r"^\[(\S+ \S+?),(\d+): INFO/MainProcess\] Scheduler: Sending due task (\S+) ", re.M)
PERIODS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def sends(beat: subprocess.Popen) -> list[tuple[float, str]]:
    """(when, schedule) for every message a beat sent, from its log (celery.beat's own line)."""
    found = []
    for stamp, millis, name in SENDING.findall(beat.log.read_text()):
        when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").timestamp() + int(millis) / 1000
        found.append((when, name))
    return found


def schedules(st: Stage) -> dict[str, float]:
    """The enabled interval schedules beat keeps in the database, and their intervals in seconds."""
    with st.cluster.connect(st.database) as conn:
        found = conn.execute(
            "SELECT t.name, i.every, i.period FROM django_celery_beat_periodictask t"
            " JOIN django_celery_beat_intervalschedule i ON i.id = t.interval_id WHERE t.enabled"
        )
        return {name: every * PERIODS[period] for name, every, period in found}


def doubled(sent: list[tuple[float, str]], every: dict[str, float]) -> int:
    """Sends of a schedule less than half its interval after the one before: the same run twice."""
    count, last = 0, {}
    for when, name in sorted(sent):
        if name in last and when - last[name] < every.get(name, 0) / 2:
            count += 1
        last[name] = when
    return count


def beat_stopped(run: FaultRun) -> Row:
    """Beat stopped for ten minutes (its schedules' last runs set ten minutes back while it is
    down, as if it had been), then started again: each schedule sends one catch-up run, not the
    ten it missed."""
    with run.stage("beat-stopped", beat=False) as st:
        row = Row("beat stopped 10 min, restarted", st.broker.name)
        beat = st.hub.start_beat()
        wait_until(lambda: "took the leader lock" in beat.log.read_text(), 60, "beat leading")
        every = wait_until(lambda: schedules(st), 30, "beat's schedules in the database")
        every = {name: seconds for name, seconds in every.items() if seconds <= 600}  # due after 10 min
        stop_process(beat)  # SIGTERM: a clean stop, the lock handed over
        with st.cluster.connect(st.database) as conn:
            conn.execute(
                "UPDATE django_celery_beat_periodictask SET last_run_at = now() - '10 minutes'::interval"
            )
        started_at = time.time()
        beat = st.hub.start_beat()
        wait_until(lambda: {name for _, name in sends(beat)} >= set(every), 60, "a catch-up run of each")
        row.recovered = max(when for when, _ in sends(beat)) - started_at
        # Until the shortest interval has passed since the catch-ups, every further send is a burst
        time.sleep(max(0.0, started_at + min(every.values()) - 2 - time.time()))
        sent = [(when, name) for when, name in sends(beat) if when < started_at + min(every.values()) - 2]
        row.tickets_expected, row.created = len(every), len(sent)
        row.duplicates = len(sent) - len({name for _, name in sent})
        row.lost = len(set(every) - {name for _, name in sent})
        due = ", ".join(sorted(every))
        row.note = f"counts are beat's sends: one catch-up expected of each schedule due ({due})"
        return row


def two_beats(run: FaultRun) -> Row:
    """Two beats on one hub (the Procfile's, with the leader lock): only the leader sends; the
    leader SIGKILLed, the other takes over once the lock expires, sending nothing twice."""
    s = run.sizes
    with run.stage("two-beats", beat=False) as st:
        row = Row("two beats, the leader SIGKILLed", st.broker.name)
        leader = st.hub.start_beat()
        wait_until(lambda: "took the leader lock" in leader.log.read_text(), 60, "the first beat leading")
        standby = st.hub.start_beat()
        wait_until(lambda: "standing by" in standby.log.read_text(), 60, "the second beat standing by")
        every = wait_until(lambda: schedules(st), 30, "beat's schedules in the database")
        time.sleep(s.beats_together)
        st.hub.kill(leader)
        killed_at = time.time()
        standby_before = len(sends(standby))
        wait_until(lambda: [w for w, _ in sends(standby) if w > killed_at], 120, "the standby sending")
        row.recovered = min(w for w, _ in sends(standby) if w > killed_at) - killed_at
        time.sleep(min(every.values()) * 2)  # two more runs of the shortest schedule from the new leader
        sent = sends(leader) + sends(standby)
        row.created = len(sent)
        row.duplicates = doubled(sent, every)
        row.tickets_expected = row.created - row.duplicates
        row.lost = 0 if len(sends(standby)) > standby_before else 1
        row.note = (
            f"counts are beat's sends; the standby sent {standby_before} before the SIGKILL; "
            "default HUB_BEAT_LOCK_SECONDS (30 s): s to recover is SIGKILL to the standby's first send"
        )
        return row


def oss_check_stalled_and_killed(run: FaultRun) -> Row:
    """An OSS check whose listing takes longer than its lock's TTL (every call slow; the living
    check renews the lock, so scheduled checks skip the bucket), then SIGKILLed: the next
    scheduled check runs within a TTL and each change is exactly one event."""
    s = run.sizes
    with FakeOSS() as oss, run.stage("oss-check-stalled", beat=False, **OSS_ENV) as st:
        row = Row("OSS check slower than its lock, then SIGKILLed", st.broker.name, events_in=s.oss_new)
        expected = watched_bucket_with_changes(oss, st, s)
        # Every listing call answered just inside the client's 30 s timeout (oss_watch.listing): a
        # single held call would time out and be tried again long before the lock's 60 s TTL
        oss.latency = 25.0
        calls = oss.list_calls
        worker = st.hub.start_worker()
        st.hub.start_beat()
        wait_until(lambda: oss.list_calls > calls, 120, "a check's first listing call")
        stalled_at = time.monotonic()
        st.hub.start_worker()
        with st.cluster.connect(st.database) as conn:
            (bucket_id,) = conn.execute("SELECT id FROM oss_watch_watchedbucket").fetchone()
        lock, hot = f"hub:oss:check:{bucket_id}", redis.Redis.from_url(st.broker.hot_url())
        token = hot.get(lock)
        ttl = st.oss_lock_seconds()
        wait_until(
            lambda: time.monotonic() - stalled_at > ttl + 10, ttl + 30, "the check to outlast the lock"
        )
        kept = token is not None and hot.get(lock) == token
        skipped = checks(st, "skipped")
        st.hub.kill(worker)
        killed_at = time.monotonic()
        oss.latency = 0.0
        row.note = (
            f"slow listing {time.monotonic() - stalled_at:.0f} s (OSS_CHECK_LOCK_SECONDS={ttl}): lock "
            f"{'kept' if kept else 'LOST'} while alive, {skipped} scheduled checks skipped; "
            "s to recover is the SIGKILL to the last event"
        )
        quiet = st.oss_lock_seconds() + QUIET_SECONDS  # the next check waits for the dead lock
        return st.settle(row, expected, killed_at, s.bound, source="oss", quiet=quiet)


def checks(st: Stage, containing: str) -> int:
    """Scheduled OSS checks done whose result says ``containing``."""
    with st.cluster.connect(st.database) as conn:
        found = conn.execute(
            "SELECT count(*) FROM django_celery_results_taskresult WHERE task_name = 'oss_watch.check_bucket'"
            " AND status = 'SUCCESS' AND result LIKE %s",
            [f"%{containing}%"],
        )
        return found.fetchone()[0]


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    run: Callable[[FaultRun], Row]
    brokers: tuple[str, ...] = ("redis", "rabbitmq")


FAULTS = [
    Fault("worker-kill-batch", "worker SIGKILL mid-batch (CDC)", worker_killed_mid_batch),
    Fault("worker-kill-create", "worker SIGKILL mid-create (Jira)", worker_killed_mid_create),
    *(
        Fault(f"redis-restart-{p}", f"Redis restarted ({p})", broker_restarted(p), ("redis",))
        for p in PERSISTENCE
    ),
    Fault("broker-restart", "RabbitMQ restarted", rabbitmq_restarted, ("rabbitmq",)),
    Fault("postgres-restart", "PostgreSQL restarted under a batch", postgres_restarted),
    Fault("broker-unreachable", "broker unreachable (publisher)", broker_unreachable),
    Fault("worker-kill-oss", "worker SIGKILL mid OSS check", worker_killed_mid_check),
    Fault("beat-stopped", "beat stopped 10 min, restarted", beat_stopped),
    Fault("two-beats", "two beats (only one sends)", two_beats),
    Fault("oss-check-killed", "OSS check slower than its lock, then killed", oss_check_stalled_and_killed),
]


def faults_for(broker: str, only: list[str] | None = None) -> list[Fault]:
    chosen = [f for f in FAULTS if broker in f.brokers]
    if only:
        unknown = set(only) - {f.name for f in chosen}
        if unknown:
            names = ", ".join(f.name for f in chosen)
            raise SystemExit(f"unknown fault(s) for {broker}: {', '.join(sorted(unknown))} (one of {names})")
        chosen = [f for f in chosen if f.name in only]
    return chosen


def run_fault(run: FaultRun, fault: Fault) -> Row:
    return fault.run(run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", choices=["redis", "rabbitmq"], default="redis")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these faults only")
    parser.add_argument("--small", action="store_true", help="fewer events, a shorter outage")
    parser.add_argument("--outage", type=float, help="seconds the broker is unreachable (default 60)")
    parser.add_argument("--visibility-timeout", type=int, help="mid-batch kill on Redis (default: the hub's)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, data)")
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else Sizes()
    if args.outage:
        sizes = replace(sizes, outage=args.outage)
    if args.visibility_timeout:
        sizes = replace(sizes, visibility_timeout=args.visibility_timeout)
    chosen = faults_for(args.broker, args.only)
    root = Path(tempfile.mkdtemp(prefix="hub-faults-"))
    run = FaultRun(args.broker, sizes, root)
    rows = []
    try:
        for fault in chosen:
            print(f"faults: {fault.name} ...", file=sys.stderr, flush=True)
            rows.append(run_fault(run, fault))
            print("  " + " | ".join(rows[-1].cells()), file=sys.stderr, flush=True)
    finally:
        run.close()
        print(table(rows, args.broker))
        if args.keep:
            print(f"\nlogs and data: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
