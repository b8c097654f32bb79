"""Real services a fault run starts for itself, never the machine's: a redis-server (with or
without an append-only file), a PostgreSQL cluster (``initdb`` in a temporary folder, another
port), a vhost of its own on RabbitMQ, a TCP proxy that can cut a client off its broker, and the
hub's processes as the Procfile starts them. Nothing here imports Django: the hub runs in its own
processes, and a run reads what they did straight from its database."""

import glob
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import psycopg
import redis

from tests.brokers import RABBITMQ_BASE_URL, create_vhost, delete_vhost, rabbitmqctl, vhost_of, with_vhost

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy and return it; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def procfile_command(name: str, env: dict[str, str] | None = None) -> list[str]:
    """The command the Procfile runs for a process, so a run starts what operators start;
    ``${NAME:-default}`` is expanded from ``env`` as the shell would."""
    env = env or {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            command = line.split(":", 1)[1]
            command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1], m[2]), command)
            return shlex.split(command)
    raise LookupError(f"no {name} in Procfile")


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Redis ---------------------------------------------------------------------------------------

PERSISTENCE = ("none", "everysec", "always")  # no AOF (and no snapshots), appendfsync everysec/always


class RedisServer:
    """A redis-server of the run's own on a free port, its files in ``directory``. ``persistence``
    "none" writes nothing to disk (no AOF, no RDB snapshot), so a restart starts empty."""

    def __init__(self, directory: Path, persistence: str = "always") -> None:
        if persistence not in PERSISTENCE:
            raise ValueError(f"persistence must be one of {PERSISTENCE}, not {persistence!r}")
        self.directory, self.persistence = directory, persistence
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db), socket_timeout=5)

    def start(self) -> None:
        aof = ["--appendonly", "no"]
        if self.persistence != "none":
            aof = ["--appendonly", "yes", "--appendfsync", self.persistence]
        log = str(self.directory / "redis.log")
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                   str(self.directory), "--save", "", *aof, "--logfile", log]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._answers, 20, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def crash(self) -> None:
        """SIGKILL: no shutdown save, no last fsync; what survives is what was on disk (or in
        the kernel's page cache: a process crash, not a power cut)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)


class Broker(Protocol):
    """What a fault needs of a broker: where it is, and how to restart it."""

    name: str
    restart_means: str  # what restart() does, for the table's note

    def url(self) -> str: ...

    def address(self) -> tuple[str, int]: ...

    def restart(self) -> None: ...

    def waiting(self) -> int | None:
        """Messages held by the broker (queued or delivered and not acknowledged), if it can say."""

    def close(self) -> None: ...


class RedisBroker:
    """The run's own redis-server as the broker (and the hub's Redis, as by default)."""

    QUEUES = ("cdc:prod", "oss:events", "jira:create", "scheduler:oss-check")

    def __init__(self, directory: Path, persistence: str) -> None:
        self.server = RedisServer(directory, persistence)
        self.server.start()
        label = {"none": "no AOF", "everysec": "AOF everysec", "always": "AOF always"}[persistence]
        self.name = f"redis ({label})"
        self.restart_means = "redis-server SIGKILLed and started again on its files"

    def url(self) -> str:
        return self.server.url(0)

    def hot_url(self) -> str:
        return self.server.url(0)

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.server.port

    def restart(self) -> None:
        self.server.crash()
        time.sleep(1.0)  # down for a moment, as a crashed server is before its supervisor restarts it
        self.server.start()

    def waiting(self) -> int | None:
        try:
            client = self.server.client()
            with client.pipeline() as pipe:
                for queue in self.QUEUES:
                    pipe.llen(queue)
                pipe.hlen("unacked")  # kombu's messages delivered and not yet acknowledged
                return sum(pipe.execute())
        except redis.RedisError:
            return None

    def queued(self, queue: str) -> int:
        return self.server.client().llen(queue)

    def close(self) -> None:
        self.server.stop()


class RabbitBroker:
    """A fresh vhost on the machine's RabbitMQ (tests/brokers.py makes and deletes it), which a
    run must never restart or reconfigure: the restart fault uses RabbitNodeBroker instead."""

    restart_means = "the machine's RabbitMQ is never restarted: see RabbitNodeBroker"

    def __init__(self, directory: Path, base_url: str = RABBITMQ_BASE_URL) -> None:
        self.vhost_url = with_vhost(base_url, f"hub-faults-{uuid.uuid4().hex[:8]}")
        create_vhost(self.vhost_url)
        self.hot = RedisServer(directory, "always")  # the hub's own Redis: hot state, budget, locks
        self.hot.start()
        self.name = "rabbitmq"

    def url(self) -> str:
        return self.vhost_url

    def hot_url(self) -> str:
        return self.hot.url(0)

    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.vhost_url)
        return parts.hostname or "127.0.0.1", parts.port or 5672

    def restart(self) -> None:
        raise NotImplementedError(self.restart_means)

    def waiting(self) -> int | None:
        out = rabbitmqctl("list_queues", "-p", vhost_of(self.vhost_url), "--no-table-headers", "messages")
        return sum(int(n) for n in out.split() if n.isdigit())

    def close(self) -> None:
        delete_vhost(self.vhost_url)
        self.hot.stop()


class RabbitNode:
    """A RabbitMQ node of the run's own (``rabbitmq-server`` with its name, ports, data and logs in
    ``directory``), which a fault may crash and start again, as it must never do to the machine's."""

    def __init__(self) -> None:
        # Its own folder under /tmp, not in the run's (mode 700): the server runs as the rabbitmq
        # user where the machine's does, and must reach it.
        self.directory = directory = Path(tempfile.mkdtemp(prefix="hub-faults-rabbitmq-"))
        os.chmod(directory, 0o777)
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"hubfaults{self.port}@localhost"
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (directory / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(directory / "pid"),
        }

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str) -> str:
        done = subprocess.run(["rabbitmqctl", "-q", "-n", self.node, *args], capture_output=True, text=True,
                              timeout=120, env=self.env)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {self.node}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, cwd=self.directory, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        wait_until(lambda: self._answers(), 120, f"RabbitMQ node {self.node}", interval=0.5)

    def _answers(self) -> bool:
        try:
            self.ctl("await_startup", "--timeout", "5")
            return True
        except (RuntimeError, subprocess.TimeoutExpired):
            return False

    def crash(self) -> None:
        """SIGKILL the node's Erlang VM: no clean shutdown; what survives is what it had on disk."""
        pid = int((self.directory / "pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30, f"{self.node} gone")

    def stop(self) -> None:
        try:
            self.ctl("stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


class RabbitNodeBroker:
    """RabbitMQ on a node of the run's own, for the restart fault (the others use a vhost of the
    machine's RabbitMQ, which starts in a second rather than ten)."""

    name = "rabbitmq (own node)"
    restart_means = "its own RabbitMQ node SIGKILLed and started again on its data"

    def __init__(self, directory: Path) -> None:
        self.node = RabbitNode()
        self.node.start()
        self.hot = RedisServer(directory / "hot", "always")
        self.hot.start()

    def url(self) -> str:
        return self.node.url()

    def hot_url(self) -> str:
        return self.hot.url(0)

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.node.port

    def restart(self) -> None:
        self.node.crash()
        self.node.start()

    def queued(self, queue: str) -> int:
        out = self.node.ctl("list_queues", "--no-table-headers", "name", "messages_ready")
        return sum(int(n) for name, n in (line.split("\t") for line in out.splitlines() if "\t" in line)
                   if name == queue)  # fmt: skip

    def waiting(self) -> int | None:
        try:
            out = self.node.ctl("list_queues", "--no-table-headers", "messages")
        except (RuntimeError, subprocess.TimeoutExpired):
            return None
        return sum(int(n) for n in out.split() if n.isdigit())

    def close(self) -> None:
        self.node.stop()
        self.hot.stop()


def make_broker(kind: str, directory: Path, persistence: str = "always", rabbitmq_url: str = "") -> Broker:
    """``rabbitmq_url``: the RabbitMQ whose vhosts a run uses (its own vhost in it is made afresh);
    ``persistence`` "own-node" on RabbitMQ: a node of the run's own instead, which can be restarted."""
    if kind == "redis":
        return RedisBroker(directory, persistence)
    if kind == "rabbitmq" and persistence == "own-node":
        return RabbitNodeBroker(directory)
    if kind == "rabbitmq":
        return RabbitBroker(directory, rabbitmq_url or RABBITMQ_BASE_URL)
    raise ValueError(f"unknown broker {kind!r} (redis or rabbitmq)")


# --- PostgreSQL ------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin (or HUB_PG_BIN)."""
    if os.environ.get("HUB_PG_BIN"):
        return Path(os.environ["HUB_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise FileNotFoundError("no initdb under /usr/lib/postgresql/*/bin: install postgresql")
    return Path(found[-1]).parent


class PostgresCluster:
    """A PostgreSQL cluster of the run's own: ``initdb`` in ``directory``, on a free port of
    127.0.0.1. initdb refuses to run as root, so as root the cluster runs as ``postgres``."""

    def __init__(self, directory: Path) -> None:
        self.bin = postgres_bin()
        self.directory, self.data = directory, directory / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / program), *args], check=True, capture_output=True,
                       timeout=120)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "postgres.log"), "-o", options,
                  "-w", "start")  # fmt: skip

    def restart(self, mode: str = "immediate") -> None:
        """``immediate``: every backend killed at once, crash recovery at start, as after a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.start()

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def create_database(self, name: str, template: str | None = None) -> None:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


# --- A proxy that can cut a client off --------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target``. ``cut()`` closes every connection through
    it and refuses new ones (the broker is unreachable for whoever uses the proxy, and only for
    them) until ``mend()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open()

    def _open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def cut(self) -> None:
        if self._listener:
            # shutdown, not only close: close leaves a socket blocked in accept() listening
            self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def mend(self) -> None:
        self._open()

    def close(self) -> None:
        self.cut()


# --- The hub's processes -----------------------------------------------------------------------------

# Inherited variables that could change a setting: a run uses the hub's defaults unless it says.
SETTING_PREFIXES = ("JIRA_", "CELERY_", "HUB_", "OSS_", "DJANGO_", "CDC_", "FLOWER_")
SETTING_NAMES = {"DATABASE_URL", "REDIS_URL"}


class Hub:
    """The hub's worker, beat, publisher and manage.py, on the run's own database and broker,
    with the hub's own settings (``hub.settings``): its defaults, and what ``env`` changes."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        base = {
            k: v for k, v in os.environ.items() if not (k.startswith(SETTING_PREFIXES) or k in SETTING_NAMES)
        }
        self.env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "DJANGO_SECRET_KEY": "fault-run-" + uuid.uuid4().hex,
            "HUB_STATE_DIR": str(directory / "state"),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.processes: list[subprocess.Popen] = []
        self._names = iter(range(1000))

    def manage(self, *args: str, **env: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **env},
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _start(self, name: str, ready: str, extra: list[str], **env: str) -> subprocess.Popen:
        log = self.directory / f"{name}-{next(self._names)}.log"
        command = [sys.executable, "-m", *procfile_command(name, env), *extra]  # "celery -A hub ..."
        proc = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env}, stdout=log.open("w"),
                                stderr=subprocess.STDOUT)  # fmt: skip
        proc.log = log
        self.processes.append(proc)
        wait_until(lambda: ready in log.read_text() or proc.poll() is not None, 90, f"{name} start")
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log.read_text()}")
        return proc

    def start_worker(self, **env: str) -> subprocess.Popen:
        name = f"fault{next(self._names)}@%h"
        extra = ["--without-gossip", "--without-mingle", "--hostname", name]
        return self._start("worker", "ready.", extra, **env)

    def start_beat(self, **env: str) -> subprocess.Popen:
        return self._start("beat", "beat: Starting", [], **env)

    def start_publisher(self, env_name: str, *args: str, **env: str) -> subprocess.Popen:
        """``python -m cdc_publisher --env ENV`` with its stdin a pipe the run writes lines to."""
        log = self.directory / f"publisher-{next(self._names)}.log"
        spool = self.directory / f"spool-{next(self._names)}"
        proc = subprocess.Popen([sys.executable, "-m", "cdc_publisher", "--env", env_name, *args], cwd=ROOT,
                                env={**self.env, "CDC_SPOOL_DIR": str(spool), **env}, stdin=subprocess.PIPE,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
        proc.log = log
        self.processes.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL: no warm shutdown, nothing given back to the broker."""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in reversed(self.processes):
            stop_process(proc)
        self.processes.clear()


def feed(proc: subprocess.Popen, data: bytes, close: bool = False) -> None:
    stdin: IO[bytes] = proc.stdin
    stdin.write(data)
    stdin.flush()
    if close:
        stdin.close()
