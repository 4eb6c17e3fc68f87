"""Each role's README shows its variables as the role has them: `scripts/generate_role_docs.py` writes the
section from `defaults/main.yml` and `meta/argument_specs.yml` (`make generate`)."""

from pathlib import Path

from scripts import generate_role_docs

ROOT = Path(__file__).resolve().parents[2]


def test_committed_role_readmes_are_the_generated_ones(capsys):
    assert generate_role_docs.main(["--check"]) == 0, capsys.readouterr().err


def test_the_table_names_every_option_down_to_sub_options_of_list_elements():
    """A user reading the istio role's README finds how to give a provider a request body setting."""
    table = generate_role_docs.section(ROOT / "roles" / "istio")
    assert "| `istio_ext_authz_providers` | list of dict | no |" in table
    assert "| `istio_ext_authz_providers[].include_request_body.max_request_bytes` | int | yes |" in table
    assert "# include_request_body {max_request_bytes, allow_partial_message, pack_as_bytes}" in table  # defaults
