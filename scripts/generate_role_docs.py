"""Writes the "Role Variables" section of each role's README from the role itself: its `defaults/main.yml` as it
is (the comments say what each default is for) and a table of `meta/argument_specs.yml` (type, required,
description) — as helm-docs writes a chart's values table. Hand-kept copies drifted from both (a provider option,
a chart version, a routing kind missing). `make generate` writes them; `--check` (run by `make lint` and
tests/ansible) fails when a committed README is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = REPO / "roles"
SECTION = "## Role Variables"
# The section runs to the next second-level heading or the end of the file.
SECTION_RE = re.compile(r"^## Role Variables\n.*?(?=^## |\Z)", re.S | re.M)


def _description(option: dict) -> str:
    text = option.get("description", "")
    if isinstance(text, list):
        text = " ".join(text)
    return " ".join(text.split()).replace("|", "\\|")


def _rows(options: dict, prefix: str = "") -> Iterator[str]:
    """One row per option, then its sub-options (`parent.child`; `parent[].child` for a list's elements), as
    ansible-doc lists them."""
    for name, option in options.items():
        kind = option.get("type", "str")
        if option.get("elements"):
            kind = f"{kind} of {option['elements']}"
        required = "yes" if option.get("required") else "no"
        yield f"| `{prefix}{name}` | {kind} | {required} | {_description(option)} |"
        if option.get("options"):
            yield from _rows(option["options"], f"{prefix}{name}{'[]' if option.get('elements') else ''}.")


def section(role: Path) -> str:
    """The role's "Role Variables" section as it should read."""
    parts = [SECTION, ""]
    defaults = role / "defaults" / "main.yml"
    if defaults.exists():
        parts += [
            "Defaults (`defaults/main.yml`), with their comments:",
            "",
            "```yaml",
            defaults.read_text().rstrip("\n"),
            "```",
            "",
        ]
    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    parts += [
        "All variables, their types and which are required (`meta/argument_specs.yml`; a wrong or missing one stops "
        "the role before its first task):",
        "",
        "| Variable | Type | Required | Description |",
        "|---|---|---|---|",
    ]
    parts += list(_rows(options))
    return "\n".join(parts) + "\n\n"


def documented_roles() -> list[Path]:
    """Roles with a README that has the section (the local_* roles are the local stack's, documented in docs/)."""
    return sorted(r for r in ROLES.iterdir() if (r / "README.md").exists() and SECTION in (r / "README.md").read_text())


def updated(readme: str, role: Path) -> str:
    return SECTION_RE.sub(lambda _: section(role), readme, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a README is stale instead of writing it")
    args = parser.parse_args(argv)
    stale = []
    for role in documented_roles():
        path = role / "README.md"
        current = path.read_text()
        wanted = updated(current, role)
        if wanted != current:
            stale.append(str(path.relative_to(REPO)))
            if not args.check:
                path.write_text(wanted)
    if stale and args.check:
        print(f"stale: {', '.join(stale)}; run `make generate`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
