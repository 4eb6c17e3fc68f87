"""The adapter image's build inputs named alike in three places: what adapter/Dockerfile copies, what .dockerignore
lets into the build context, and what the apim_adapter role hashes into the image tag (a file missing from the
context breaks the build on a user's machine; one missing from the hash leaves a stale image running)."""

from __future__ import annotations

import fnmatch

import yaml

from harness.helpers import ROOT


def dockerfile_sources() -> list[str]:
    """The build-context paths adapter/Dockerfile COPYs (not those copied from another stage)."""
    sources = []
    for line in (ROOT / "adapter" / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def in_context(path: str) -> bool:
    """Whether .dockerignore (everything out, then exceptions) lets `path` into the context."""
    allowed = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = keep
    return allowed


def test_every_file_the_dockerfile_copies_is_in_the_context_and_in_the_image_tags_hash():
    hashed = yaml.safe_load((ROOT / "roles" / "apim_adapter" / "defaults" / "main.yml").read_text())[
        "apim_adapter_image_inputs"
    ]
    sources = dockerfile_sources()
    assert "adapter/native/src" in sources  # the compiled request reader is built into the image
    for source in sources:
        assert (ROOT / source).exists(), source
        files = (
            [source]
            if (ROOT / source).is_file()
            else [
                str(p.relative_to(ROOT))
                for p in (ROOT / source).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            ]
        )
        for path in files:
            assert in_context(path), f"{path}: left out of the build context by .dockerignore"
            assert any(path == h or path.startswith(h.rstrip("/") + "/") for h in hashed), f"{path}: not hashed"


def test_what_the_image_does_not_need_stays_out_of_the_context():
    for path in ("adapter/native/target/release/libapim_adapter_native.so", ".venv/bin/python", "adapter/tests/x.py"):
        assert not in_context(path), path
