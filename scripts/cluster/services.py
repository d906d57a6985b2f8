"""The processes of `make cluster`: PostgreSQL, Redis, action server, Rasa replicas, HAProxy.

Used by `python -m scripts.cluster` (make cluster, in the foreground) and by
the cluster tests and the benchmark (free ports, a temporary state directory).
Everything listens on 127.0.0.1 only. Debian's packages provide the servers
(scripts/cluster/ensure-packages.sh installs them when missing).

PostgreSQL runs as a non-root user (``postgres`` when started as root, else
the current user) from its own data directory, created by ``initdb`` on first
run, started and stopped with ``pg_ctl``. Passwords for PostgreSQL and Redis
are generated on first run and kept in ``<state>/secrets.json`` (mode 600).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ENDPOINTS = ROOT / "endpoints.cluster.yml"
CREDENTIALS = ROOT / "credentials.yml"
MODEL = ROOT / "models" / "ketamine-aid.tar.gz"
IS_ROOT = os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    check, timeout: float, what: str, poll: float = 0.2, proc=None, log: Optional[Path] = None
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: process exited ({proc.returncode}); log:\n{tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(poll)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout}s; log:\n{tail}")


def http_ok(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def service_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        RASA_TELEMETRY_ENABLED="false",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def stop_process(proc: Optional[subprocess.Popen], grace: float = 15) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --------------------------------------------------------------------------- #
# secrets
# --------------------------------------------------------------------------- #


def load_secrets(state: Path) -> Dict[str, str]:
    path = state / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "pg_superuser_password": secrets.token_urlsafe(24),
        "pg_password": secrets.token_urlsafe(24),
        "redis_password": secrets.token_urlsafe(24),
    }
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    return values


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


def pg_bindir() -> Path:
    for name in ("pg_ctl",):
        found = sorted(
            glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
            key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
        )
        if found:
            return Path(found[-1]).parent
        on_path = shutil.which(name)
        if on_path:
            return Path(os.path.realpath(on_path)).parent
    raise RuntimeError("PostgreSQL not found: run scripts/cluster/ensure-packages.sh")


class Postgres:
    """A PostgreSQL instance of our own, on 127.0.0.1 only (no Unix socket)."""

    def __init__(
        self,
        state: Path,
        port: int,
        password: str,
        superuser_password: str,
        user: str = "rasa",
        database: str = "rasa",
    ) -> None:
        self.port, self.password, self.superuser_password = port, password, superuser_password
        self.user, self.database = user, database
        self.os_user = self._os_user()
        self.home = self._home(state / "postgres")
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.bindir = pg_bindir()

    @staticmethod
    def _os_user() -> Optional[str]:
        if not IS_ROOT:
            return None  # run as ourselves
        for name in ("postgres", "ketamine-aid-pg"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "ketamine-aid-pg",
            ],
            check=True,
        )
        return "ketamine-aid-pg"

    def _as_user(self, args: Sequence[str]) -> List[str]:
        return ["runuser", "-u", self.os_user, "--", *args] if self.os_user else list(args)

    def _home(self, wanted: Path) -> Path:
        """`wanted`, if the database's OS user can reach it; else a directory under /var/tmp."""
        wanted.mkdir(parents=True, exist_ok=True)
        if self.os_user:
            owner = pwd.getpwnam(self.os_user)
            os.chown(wanted, owner.pw_uid, owner.pw_gid)
            os.chmod(wanted, 0o700)
            if subprocess.run(self._as_user(["test", "-w", str(wanted)])).returncode != 0:
                tag = hashlib.sha1(str(wanted).encode()).hexdigest()[:12]
                fallback = Path(f"/var/tmp/ketamine-aid-postgres-{tag}")
                fallback.mkdir(mode=0o700, exist_ok=True)
                os.chown(fallback, owner.pw_uid, owner.pw_gid)
                print(
                    f"note: {self.os_user} cannot reach {wanted}; PostgreSQL data in {fallback}",
                    flush=True,
                )
                (wanted / "WHERE").write_text(str(fallback) + "\n")
                return fallback
        return wanted

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised():
            return
        pwfile = self.home / ".pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        if self.os_user:
            owner = pwd.getpwnam(self.os_user)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        os.chmod(pwfile, 0o600)
        try:
            subprocess.run(
                self._as_user(
                    [
                        str(self.bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth-host=scram-sha-256",
                        "--auth-local=reject",
                        f"--pwfile={pwfile}",
                        "--encoding=UTF8",
                        "--no-instructions",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# ketamine-aid cluster: loopback only, no Unix socket\n"
                "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "max_connections = 200\nshared_buffers = 64MB\nfsync = on\n"
            )

    def running(self) -> bool:
        return (
            subprocess.run(
                self._as_user([str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).returncode
            == 0
        )

    def start(self, timeout: float = 60) -> Postgres:
        self.init()
        if self.running():  # left over from a run that was killed: restart on our port
            self.stop()
        subprocess.run(
            self._as_user(
                [
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    f"-p {self.port}",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._ensure_database()
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self._as_user(
                    [
                        str(self.bindir / "pg_ctl"),
                        "stop",
                        "-D",
                        str(self.data),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                    ]
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def restart(self) -> None:
        subprocess.run(
            self._as_user(
                [
                    str(self.bindir / "pg_ctl"),
                    "restart",
                    "-D",
                    str(self.data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port}",
                    "-l",
                    str(self.log),
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def connect(self, user: str = "", password: str = "", database: str = ""):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=user or self.user,
            password=password or self.password,
            dbname=database or self.database,
            connect_timeout=3,
        )

    def _ensure_database(self) -> None:
        conn = self.connect("postgres", self.superuser_password, "postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,))
            if not cur.fetchone():
                cur.execute(f'CREATE ROLE "{self.user}" LOGIN PASSWORD %s', (self.password,))
            else:
                cur.execute(f'ALTER ROLE "{self.user}" PASSWORD %s', (self.password,))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
            if not cur.fetchone():
                cur.execute(f'CREATE DATABASE "{self.database}" OWNER "{self.user}"')
        conn.close()


# --------------------------------------------------------------------------- #
# Redis
# --------------------------------------------------------------------------- #


class Redis:
    """redis-server on 127.0.0.1 with a password, nothing written to disk."""

    def __init__(self, state: Path, port: int, password: str) -> None:
        self.port, self.password = port, password
        self.dir = state / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "redis.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 20) -> Redis:
        user = "redis" if IS_ROOT and _user_exists("redis") else None
        config = (
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\nrequirepass {self.password}\n"
            f'save ""\nappendonly no\ndir /tmp\ndaemonize no\nmaxmemory 128mb\n'
            f"maxmemory-policy noeviction\n"
        )
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "-"],
            stdin=subprocess.PIPE,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
        self.proc.stdin.write(config.encode())
        self.proc.stdin.close()
        wait_until(self.ping, timeout, "Redis", proc=self.proc, log=self.log)
        return self

    def ping(self) -> bool:
        import redis

        return bool(
            redis.Redis(
                host="127.0.0.1",
                port=self.port,
                password=self.password,
                socket_timeout=1,
                socket_connect_timeout=1,
            ).ping()
        )

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.proc = None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# --------------------------------------------------------------------------- #
# Rasa: action server and replicas
# --------------------------------------------------------------------------- #


class ActionServer:
    def __init__(self, state: Path, port: int) -> None:
        self.port = port
        self.log = state / "actions.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ActionServer:
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "actions", "--port", str(self.port)],
            cwd=ROOT,
            env=service_env(),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 180) -> ActionServer:
        wait_until(
            lambda: http_ok(f"{self.url}/health"),
            timeout,
            "action server",
            proc=self.proc,
            log=self.log,
            poll=0.5,
        )
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


class Replica:
    """One `rasa run` with endpoints.cluster.yml (PostgreSQL tracker store, Redis lock store)."""

    def __init__(
        self,
        state: Path,
        index: int,
        port: int,
        env: Dict[str, str],
        model: Path = MODEL,
        cors: Sequence[str] = (),
        credentials: Path = CREDENTIALS,
    ) -> None:
        self.index, self.port, self.env, self.model, self.cors = index, port, env, model, list(cors)
        self.credentials = credentials
        self.log = state / f"rasa-{index}.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        args = [
            str(VENV_BIN / "rasa"),
            "run",
            "--model",
            str(self.model),
            "--port",
            str(self.port),
            "--interface",
            "127.0.0.1",
            "--endpoints",
            str(ENDPOINTS),
            "--credentials",
            str(self.credentials),
        ]
        if self.cors:
            args += ["--cors", *self.cors]
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 240) -> Replica:
        wait_until(
            lambda: http_ok(f"{self.url}/webhooks/rest/"),
            timeout,
            f"Rasa replica {self.index}",
            proc=self.proc,
            log=self.log,
            poll=0.5,
        )
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, 20)
        self.proc = None


# --------------------------------------------------------------------------- #
# HAProxy
# --------------------------------------------------------------------------- #

HAPROXY_CFG = """\
global
    maxconn 4096
    log stdout format raw local0 info
{user}
defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    option log-health-checks
    timeout check 3s
    timeout connect 1s
    timeout client 90s
    timeout server 90s
    timeout http-request 10s
    # A request is re-sent to another replica only when it never reached the
    # first one (connection refused): a turn is never handled twice.
    retries 3
    retry-on conn-failure
    option redispatch 1
    # A new connection to a replica per request: a request is never sent on
    # an idle connection to a replica that has just died.
    http-reuse never

frontend rasa
    bind 127.0.0.1:{port}
    # The replicas rate-limit per client address: they read it from this header,
    # which they believe only from this proxy (trusted_proxies in their credentials).
    option forwardfor
    default_backend replicas

backend replicas
    balance {balance}
    option httpchk GET /webhooks/rest/
    http-check expect status 200
    default-server inter 1s fastinter 500ms fall 3 rise 2 on-marked-down shutdown-sessions
{servers}

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class HAProxy:
    def __init__(
        self,
        state: Path,
        port: int,
        stats_port: int,
        replica_ports: Sequence[int],
        balance: str = "roundrobin",
    ) -> None:
        self.port, self.stats_port, self.replica_ports = port, stats_port, list(replica_ports)
        self.balance = balance
        self.cfg = state / "haproxy.cfg"
        self.log = state / "haproxy.log"
        self.proc: Optional[subprocess.Popen] = None

    def write_config(self) -> None:
        servers = "\n".join(
            f"    server rasa{i} 127.0.0.1:{p} check"
            for i, p in enumerate(self.replica_ports, start=1)
        )
        user = (
            "    user haproxy\n    group haproxy\n" if IS_ROOT and _user_exists("haproxy") else ""
        )
        self.cfg.write_text(
            HAPROXY_CFG.format(
                user=user,
                port=self.port,
                servers=servers,
                stats_port=self.stats_port,
                balance=self.balance,
            )
        )

    def start(self, timeout: float = 20) -> HAProxy:
        self.write_config()
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        subprocess.run([binary, "-c", "-q", "-f", str(self.cfg)], check=True)
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(self.cfg)],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: port_open(self.port), timeout, "HAProxy", proc=self.proc, log=self.log)
        return self

    def servers_up(self) -> Dict[str, str]:
        """Server name -> status (UP/DOWN...) from the stats page (CSV)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2
        ) as resp:
            lines = resp.read().decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))  # HAProxy may add columns
            if row.get("pxname") == "replicas" and row.get("svname") not in ("FRONTEND", "BACKEND"):
                out[row["svname"]] = row.get("status", "")
        return out

    def wait_all_up(self, timeout: float = 30) -> None:
        wait_until(
            lambda: all(s == "UP" for s in self.servers_up().values()),
            timeout,
            "HAProxy health checks",
            log=self.log,
        )

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.proc = None


# --------------------------------------------------------------------------- #
# the whole cluster
# --------------------------------------------------------------------------- #


def cluster_credentials(state: Path, channel: Optional[Dict[str, Any]] = None) -> Path:
    """credentials.yml for the replicas: HAProxy (on loopback) is their trusted proxy.

    ``channel`` overrides settings of the REST channel's section (load tests
    turn the rate limits off, as the benchmark does).
    """
    data = yaml.safe_load(CREDENTIALS.read_text(encoding="utf-8")) or {}
    section = dict(data.get("bot.channels.SafeRestInput") or {})
    section["trusted_proxies"] = ["127.0.0.1"]
    section.update(channel or {})
    data["bot.channels.SafeRestInput"] = section
    path = Path(state) / "credentials.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class Cluster:
    """PostgreSQL + Redis + action server + N Rasa replicas + HAProxy, all on loopback."""

    def __init__(
        self,
        state: Path,
        replicas: int = 2,
        port: int = 5005,
        replica_base: int = 5010,
        actions_port: int = 5055,
        pg_port: int = 5433,
        redis_port: int = 6380,
        stats_port: int = 5004,
        model: Path = MODEL,
        cors: Sequence[str] = (),
        extra_env: Optional[Dict[str, str]] = None,
        channel: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o755)
        keys = load_secrets(self.state)
        self.postgres = Postgres(
            self.state, pg_port, keys["pg_password"], keys["pg_superuser_password"]
        )
        self.redis = Redis(self.state, redis_port, keys["redis_password"])
        self.actions = ActionServer(self.state, actions_port)
        self.env = service_env()
        self.env.update(
            {
                "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
                "PG_HOST": "127.0.0.1",
                "PG_PORT": str(pg_port),
                "PG_DATABASE": self.postgres.database,
                "PG_USER": self.postgres.user,
                "PG_PASSWORD": keys["pg_password"],
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(redis_port),
                "REDIS_PASSWORD": keys["redis_password"],
                "TRACKER_CACHE_BYTES": os.environ.get("TRACKER_CACHE_BYTES", str(64 * 1024 * 1024)),
                "TRACKER_MAX_SESSION_EVENTS": os.environ.get("TRACKER_MAX_SESSION_EVENTS", "120"),
            }
        )
        self.env.update(extra_env or {})
        credentials = cluster_credentials(self.state, channel)
        self.replicas = [
            Replica(self.state, i, replica_base + i, self.env, model, cors, credentials)
            for i in range(1, replicas + 1)
        ]
        self.lb = HAProxy(self.state, port, stats_port, [r.port for r in self.replicas])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb.port}"

    def start(self, log=lambda msg: None) -> Cluster:
        try:
            log(f"PostgreSQL on 127.0.0.1:{self.postgres.port} (data: {self.postgres.data})")
            self.postgres.start()
            log(f"Redis on 127.0.0.1:{self.redis.port}")
            self.redis.start()
            log(f"action server on 127.0.0.1:{self.actions.port}")
            self.actions.start()
            for replica in self.replicas:
                log(
                    f"Rasa replica {replica.index} on 127.0.0.1:{replica.port} (log: {replica.log})"
                )
                replica.start()
            self.actions.wait_ready()
            for replica in self.replicas:
                replica.wait_ready()
            log(
                f"HAProxy on 127.0.0.1:{self.lb.port} (stats: http://127.0.0.1:{self.lb.stats_port}/stats)"
            )
            self.lb.start()
            self.lb.wait_all_up()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for stop in (
            [self.lb.stop]
            + [r.stop for r in self.replicas]
            + [self.actions.stop, self.redis.stop, self.postgres.stop]
        ):
            try:
                stop()
            except Exception as error:  # keep stopping the rest
                print(f"warning: {error}", file=sys.stderr)
