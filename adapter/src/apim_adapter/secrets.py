"""Secrets come from files (mounted Kubernetes secrets), never from the command line or the config itself."""

from __future__ import annotations

from os import PathLike


def read_secret(path: str | PathLike[str]) -> str:
    """The file's content without its trailing newline (`kubectl create secret --from-file` keeps one)."""
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")
