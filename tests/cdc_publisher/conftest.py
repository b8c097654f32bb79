import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    """A MariaDB of the tests' own, binlog on (ROW, full metadata), root without a password;
    ``options`` are more server options (``--binlog-row-image=MINIMAL``)."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.dir = Path(tempfile.mkdtemp(prefix="hub-mariadb-"))
        shutil.chown(self.dir, "mysql")
        self.port = free_port()
        self.url = f"mysql://root@127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        data = self.dir / "data"
        subprocess.run(
            [
                "mariadb-install-db",
                f"--datadir={data}",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
            ],
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.dir}/m.sock", f"--pid-file={self.dir}/m.pid",
                "--log-bin=mysql-bin", "--binlog-format=ROW", "--server-id=1", "--binlog-row-metadata=FULL",
                "--character-set-server=utf8mb4", *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "server.log").open("w"),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                self.connect().close()
                return
            except pymysql.Error:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError((self.dir / "server.log").read_text()) from None
                time.sleep(0.1)

    def connect(self) -> pymysql.Connection:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", autocommit=True, charset="utf8mb4"
        )

    def execute(self, *statements: str) -> None:
        with self.connect() as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def position(self) -> dict:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SHOW MASTER STATUS")
            log_file, log_pos = cursor.fetchone()[:2]
        return {"log_file": log_file, "log_pos": log_pos}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb():
    server = MariaDB()
    server.start()
    yield server
    server.stop()
