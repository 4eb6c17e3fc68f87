"""Real servers for the wso2 control plane, introspection and Redis tests: a Redis (Debian `redis-server`), Apache
Qpid Broker-J (Maven Central) as APIM's event hub and a double of Andes' exact handshake, a test CA, and the APIM
double whose every answer is validated against WSO2's internal data API spec."""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis

from harness import apim_rest, wso2_specs
from harness.andes_double import AndesDouble
from harness.apim_double import ApimDouble, Served, TestCa, data_api_schema, fresh_data, make_test_ca, sample_data
from harness.helpers import wait_port
from harness.processes import Process, free_port
from harness.publisher import Publisher
from harness.qpid import QpidBroker

REDIS_PASSWORD = "redis-secret"


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
        wait_port(self.port, self.process, 10)
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


# -- APIM's event hub: Apache Qpid Broker-J, and a double of Andes' handshake ------------------------------


@pytest.fixture(scope="session")
def qpid(tmp_path_factory) -> QpidBroker:
    """One real broker per session (`make setup` fetches it); tests that restart a broker start their own."""
    broker = QpidBroker(tmp_path_factory.mktemp("qpid")).start()
    print(f"\nQpid Broker-J ready in {broker.started_in:.1f}s")
    yield broker
    broker.stop()


@pytest.fixture
def andes() -> AndesDouble:
    double = AndesDouble().start()
    yield double
    double.stop()


# -- WSO2 APIM double -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    loaded = copy.deepcopy(wso2_specs.spec("internal-data"))  # the double's own reading, patched for the tests
    # The spec requires a `type` in ThrottleLimit that it does not define and carbon-apimgt 9.31.86 never sends
    # (SubscriptionValidationDataUtil): the real answers are what the double must match.
    loaded["definitions"]["ThrottleLimit"].pop("required", None)
    return loaded


def validate_served(spec: dict[str, Any], served: Served) -> None:
    """An answer of the double against the spec's definition for that endpoint (Swagger 2.0 schemas); a product
    REST API answer against its operation in the OpenAPI 3 specs (harness/apim_rest.py)."""
    if served.operation is not None:
        apim_rest.validate_served(*served.operation, served.status, served.body)
        return
    if served.endpoint in ("dcr", "token"):  # no vendored definition: harness/apim_rest.py checks their shape
        return
    fragment = data_api_schema(served.endpoint, served.status)
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


@pytest.fixture
def apim(apim_factory) -> ApimDouble:
    """A double holding nothing but what a test makes in it."""
    return apim_factory(fresh_data())


@pytest.fixture
def publisher(apim, test_ca) -> Publisher:
    return Publisher(apim, test_ca.ca)
