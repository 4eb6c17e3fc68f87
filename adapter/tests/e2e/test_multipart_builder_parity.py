"""The multipart/form-data body as APIM's gateway builds it, held to the real libraries (harness/axis2_multipart.py):
for every body of a corpus of edge cases and of generated ones, axis2_multipart.element gives the text of the SOAP
body's first element that commons-fileupload, Axiom and Woodstox give (what APIM's Regex Policy searches), character
for character, and raises GatewayFailure where APIM's builder throws."""

from __future__ import annotations

import pytest

from apim_adapter import axis2_multipart
from harness import axis2_multipart as oracle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not oracle.available(), reason="needs javac and .tools/axis2-multipart (make setup)"),
]


def ours(content_type: str, body: bytes) -> str | oracle.Failure:
    try:
        return axis2_multipart.element(content_type, body)
    except axis2_multipart.GatewayFailure as failure:
        return oracle.Failure("GatewayFailure", str(failure))


def agree(mine: str | oracle.Failure, theirs: str | oracle.Failure) -> bool:
    """The same text, or a failure on both sides (the kinds and messages differ: APIM's never reach the client)."""
    if isinstance(theirs, oracle.Failure):
        return isinstance(mine, oracle.Failure)
    return mine == theirs


def shown(value: str | oracle.Failure, limit: int = 400) -> str:
    if isinstance(value, oracle.Failure):
        return f"FAIL {value.kind}: {value.message}" + (f" ({value.cause})" if value.cause else "")
    return repr(value) if len(value) <= limit else repr(value[: limit // 2]) + f"...({len(value)} chars)"


def differences(labels: list[str], cases: list[tuple[str, bytes]], answers: list[str | oracle.Failure]) -> str:
    """The first ten cases where the adapter and the oracle disagree, one paragraph each."""
    lines = []
    for label, (content_type, body), theirs in zip(labels, cases, answers, strict=True):
        mine = ours(content_type, body)
        if not agree(mine, theirs):
            body_text = repr(body) if len(body) <= 300 else repr(body[:300]) + f"...({len(body)} bytes)"
            lines.append(f"{label}\n  Content-Type: {content_type[:200]!r}\n  body: {body_text}\n"
                         f"  APIM:    {shown(theirs)}\n  adapter: {shown(mine)}")  # fmt: skip
    return f"{len(lines)} of {len(cases)} differ:\n" + "\n".join(lines[:10]) if lines else ""


def test_hand_cases_are_built_as_apim_builds_them(tmp_path):
    cases = oracle.hand_cases()
    theirs = oracle.renderings(cases, tmp_path)
    # The corpus has bodies APIM builds and bodies it fails on, and each kind of failure.
    assert sum(isinstance(answer, str) for answer in theirs) > 60
    assert len({answer.kind for answer in theirs if isinstance(answer, oracle.Failure)}) >= 6
    labels = [f"#{number} {what}" for number, (what, _, _) in enumerate(oracle.HAND_CASES, 1)]
    problems = differences(labels, cases, theirs)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_random_bodies_are_built_as_apim_builds_them(tmp_path):
    cases = oracle.random_cases()
    theirs = oracle.renderings(cases, tmp_path)
    assert sum(isinstance(answer, str) for answer in theirs) > 250
    assert sum(isinstance(answer, oracle.Failure) for answer in theirs) > 100
    problems = differences([f"random #{number}" for number in range(len(cases))], cases, theirs)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_large_bodies_end_their_parts_where_apim_does(tmp_path):
    cases = oracle.large_cases()
    assert max(len(body) for _, body in cases) > 4 * 4096  # several times the Java parser's buffer
    theirs = oracle.renderings(cases, tmp_path)
    assert sum(isinstance(answer, str) for answer in theirs) > 60
    problems = differences([f"large #{number}" for number in range(len(cases))], cases, theirs)
    if problems:
        pytest.fail(problems, pytrace=False)


def test_schema_validation_hands_its_validator_a_body_where_apims_conversion_reads_one_back(tmp_path):
    """axis2_multipart.converts against the real writer and reader: the built element serialised by Axiom and read
    back by Woodstox (JsonUtil.convertOMElementToJson), for every body of the three corpora."""
    cases = oracle.hand_cases() + oracle.random_cases() + oracle.large_cases()
    theirs = oracle.conversions(cases, tmp_path)
    assert 200 < sum(theirs) < len(cases) - 200  # bodies it hands on, and bodies it does not
    differ = [(content_type, body[:300], want) for (content_type, body), want in zip(cases, theirs, strict=True)
              if axis2_multipart.converts(content_type, body) is not want]  # fmt: skip
    assert not differ, f"{len(differ)} of {len(cases)} differ (Content-Type, body, APIM hands a body):\n" + "\n".join(
        map(repr, differ[:10])
    )
