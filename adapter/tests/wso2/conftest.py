"""Real servers for the wso2 control plane, introspection and Redis tests: a Redis (Debian `redis-server`), a
RabbitMQ (Debian `rabbitmq-server`) as APIM's event hub, a test CA, and the APIM double whose every answer is
validated against WSO2's internal data API spec."""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema
import pytest
import redis
import yaml

from harness.apim_double import SPEC_OF, ApimDouble, Served, TestCa, make_test_ca, sample_data
from harness.processes import Process, free_port

SPEC = Path(__file__).resolve().parents[3] / "tests" / "wso2_specs" / "internal-data-api.yaml"  # WSO2, unmodified
REDIS_PASSWORD = "redis-secret"


def wait_port(port: int, timeout: float, process: Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive:
            raise RuntimeError(f"{process.name} exited:\n{process.log()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{process.name} not listening on {port} after {timeout}s:\n{process.log()}")


# -- Redis ------------------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    workdir: Path
    port: int
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = Process(
            f"redis-{self.port}",
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir), "--requirepass", REDIS_PASSWORD],
            self.workdir,
        )  # fmt: skip
        wait_port(self.port, 10, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=REDIS_PASSWORD)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> RedisServer:
    server = RedisServer(tmp_path_factory.mktemp("redis"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path) -> RedisServer:
    """A Redis of this test's own, for outages."""
    server = RedisServer(tmp_path, free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def redis_password_file(tmp_path) -> Path:
    path = tmp_path / "redis-password"
    path.write_text(REDIS_PASSWORD + "\n")
    return path


# -- RabbitMQ ---------------------------------------------------------------------------------------------


@dataclass
class RabbitMq:
    port: int
    started_in: float

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"


def _amqp_ready(url: str) -> bool:
    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=2)
        await connection.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError):
        return False
    return True


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory) -> RabbitMq:
    """One broker per test session, on loopback ports of its own, with no plugins (no management listener)."""
    workdir = tmp_path_factory.mktemp("rabbitmq")
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (workdir / "home").mkdir()
    (workdir / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n"
        "default_user = guest\ndefault_pass = guest\nlog.console = true\nlog.file = false\n"
    )
    (workdir / "enabled_plugins").write_text("[].\n")
    (workdir / "rabbitmq-env.conf").write_text("")
    env = {
        "HOME": str(workdir / "home"),  # the Erlang cookie
        "RABBITMQ_NODENAME": f"apim-test-{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
    }
    server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if not os.path.exists(server):
        server = shutil.which("rabbitmq-server") or server
    started = time.monotonic()
    process = Process("rabbitmq", [server], workdir, env=env)
    try:
        wait_port(port, 60, process)
        url = RabbitMq(port, 0).url
        while not _amqp_ready(url):
            if time.monotonic() - started > 60:
                raise TimeoutError(f"RabbitMQ not accepting AMQP:\n{process.log()}")
            time.sleep(0.1)
        broker = RabbitMq(port, time.monotonic() - started)
        print(f"\nRabbitMQ ready in {broker.started_in:.1f}s")
        yield broker
    finally:
        process.stop(timeout=20)
        epmd = shutil.which("epmd")
        if epmd:
            subprocess.run([epmd, "-kill"], env={**os.environ, "ERL_EPMD_PORT": str(epmd_port)},
                           capture_output=True, check=False, timeout=10)  # fmt: skip


# -- WSO2 APIM double -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    loaded = yaml.safe_load(SPEC.read_text())
    # The spec requires a `type` in ThrottleLimit that it does not define and carbon-apimgt 9.31.86 never sends
    # (SubscriptionValidationDataUtil): the real answers are what the double must match.
    loaded["definitions"]["ThrottleLimit"].pop("required", None)
    return loaded


def validate_served(spec: dict[str, Any], served: Served) -> None:
    """An answer of the double against the spec's definition for that endpoint (Swagger 2.0 schemas)."""
    if served.status != 200:
        fragment: dict[str, Any] = {"$ref": "#/definitions/Error"}
    elif SPEC_OF[served.endpoint].endswith("[]"):
        fragment = {"type": "array", "items": {"$ref": f"#/definitions/{SPEC_OF[served.endpoint][:-2]}"}}
    else:
        fragment = {"$ref": f"#/definitions/{SPEC_OF[served.endpoint]}"}
    jsonschema.Draft4Validator({"definitions": spec["definitions"], **fragment}).validate(served.body)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCa:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def credentials(tmp_path) -> tuple[Path, Path]:
    user, password = tmp_path / "apim-username", tmp_path / "apim-password"
    user.write_text("admin\n")
    password.write_text("admin-secret\n")
    return user, password


@pytest.fixture(scope="session")
def check_answers(spec):
    """Validate every answer an APIM double gave against the spec."""

    def check(double: ApimDouble) -> None:
        for served in double.responses:
            validate_served(spec, served)

    return check


@pytest.fixture
def apim_factory(test_ca, check_answers):
    """Start APIM doubles; at teardown every answer they gave is validated against the spec."""
    doubles: list[ApimDouble] = []

    def start(data: dict | None = None, **kwargs) -> ApimDouble:
        double = ApimDouble(copy.deepcopy(data or sample_data()), tls=test_ca, **kwargs).start()
        doubles.append(double)
        return double

    yield start
    for double in doubles:
        double.stop()
    for double in doubles:
        check_answers(double)
