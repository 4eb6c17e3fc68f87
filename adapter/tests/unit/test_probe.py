"""`apim-adapter probe` in process: what it prints of a URL, a config that names nothing to probe, `--mesh-sync`
without a meshSync section. The probe of each real dependency is in the wso2 suite (test_e2e.py), against the real
broker, Redis and key manager endpoints; `--mesh-sync`'s of the API server in tests/cluster/test_mesh_sync.py."""

from __future__ import annotations

import asyncio

from apim_adapter import config, logs
from apim_adapter.cli import main
from apim_adapter.probe import _address, probe


def test_a_url_is_printed_without_its_user_password_and_query():
    assert _address("redis://:s3cret@redis.apim:6379/0?ssl_cert_reqs=none") == "redis://redis.apim:6379/0"
    assert _address("amqps://admin:admin@apim:8672/carbon") == "amqps://apim:8672/carbon"
    assert _address("https://is.example.com/oauth2/jwks") == "https://is.example.com/oauth2/jwks"


def test_a_config_that_names_no_dependency_is_said_so_and_passes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(logs, "setup", lambda level: None)  # the test run's logging stays pytest's
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("apis: []\n")
    path = tmp_path / "config.yaml"
    path.write_text(f"controlPlane: {{type: file, path: {catalog}}}\n")
    assert asyncio.run(probe(config.load(str(path)))) == []
    assert main(["probe", "--config", str(path)]) == 0
    assert "names no dependency to probe" in capsys.readouterr().out


def test_mesh_sync_probe_of_a_config_without_mesh_sync_is_refused(tmp_path, capsys, monkeypatch):
    """`--mesh-sync` with no meshSync section: an error naming the file (exit 2), not an empty, passing probe."""
    monkeypatch.setattr(logs, "setup", lambda level: None)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("apis: []\n")
    path = tmp_path / "config.yaml"
    path.write_text(f"controlPlane: {{type: file, path: {catalog}}}\n")
    assert main(["probe", "--mesh-sync", "--config", str(path)]) == 2
    assert f"{path} has no meshSync section to probe" in capsys.readouterr().err
