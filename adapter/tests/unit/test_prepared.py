"""Prepared allows: a warm check is answered from the previous identical one, exactly as the whole check would
answer it, and never once the catalog, the token or the limits say otherwise. Also the shared pieces of the hot
path under concurrent threads: the local counters (one short lock) and the metric tallies (none)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest
from envoy.config.core.v3.base_pb2 import HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2 as pb

from apim_adapter import metrics
from apim_adapter.app import _fold_metrics_forever
from apim_adapter.catalog import Limit
from apim_adapter.decision import Decision
from apim_adapter.ratelimit import Usage
from apim_adapter.ratelimit.local import LocalRateLimiter
from apim_adapter.tokens import fingerprint
from apim_adapter.transport.grpc import AuthorizationService, _rate_headers_bytes, read_native
from harness.pipeline import PATH, check_request, in_process_adapter, token, warm, whole
from harness.sample_catalog import TINY_LIMIT, catalog_document, per_minute


def test_the_second_identical_check_is_answered_from_the_first_ones_allow_and_still_counted():
    a, t = in_process_adapter(), token()
    assert warm(a, t) is None  # nothing prepared yet: the transport runs the whole check
    first = whole(a, t)
    assert first.allowed
    allow, usage = warm(a, t)
    assert allow is a.renderer.allow(first, time.time())
    assert usage.used == first.usage.used + 1  # the rate limit is counted on every check
    assert warm(a, t, path=PATH + "?q=1")[1].used == usage.used + 1  # the query string resolves the same
    assert warm(a, t, path="/httpbin/1.0.0/headers") is None  # another resource is another check
    assert warm(a, token(scope="scope_ip")) is None  # another token too


READERS = [pytest.param(None, id="protobuf runtime")]
if read_native is not None:
    READERS.append(pytest.param(read_native, id="compiled reader"))


@pytest.mark.parametrize("read", READERS)
def test_the_grpc_answer_of_a_prepared_allow_is_the_whole_checks_answer(read):
    a, t = in_process_adapter(), token()
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared, read=read)
    cold = pb.CheckResponse.FromString(service.Check(check_request(t).SerializeToString(), None))
    warmed = pb.CheckResponse.FromString(service.Check(check_request(t).SerializeToString(), None))
    expected = service.respond(whole(a, t))  # the next count, through the whole check
    again = pb.CheckResponse.FromString(service.Check(check_request(t).SerializeToString(), None))
    # The RateLimit-* headers, and CORS's Allow-Origin (CORS is on: APIM's default), added where the backend has none.
    assert [len(r.ok_response.response_headers_to_add) for r in (cold, warmed, again)] == [4, 4, 4]
    cors = warmed.ok_response.response_headers_to_add[0]
    assert (cors.header.key, cors.header.value, cors.append_action) == (
        "access-control-allow-origin",
        "*",
        HeaderValueOption.ADD_IF_ABSENT,
    )
    assert warmed.ok_response.headers == cold.ok_response.headers
    assert warmed.ok_response.headers_to_remove == cold.ok_response.headers_to_remove
    assert warmed.dynamic_metadata == cold.dynamic_metadata
    remaining = [
        {o.header.key: o.header.value for o in r.ok_response.response_headers_to_add}["ratelimit-remaining"]
        for r in (cold, warmed, expected, again)
    ]
    assert [int(r) for r in remaining] == [4999, 4998, 4997, 4996]
    expected.ok_response.response_headers_to_add[2].header.value = "4996"
    assert again == expected


def test_rate_headers_are_encoded_as_protobuf_encodes_them_whatever_their_length():
    # One-byte lengths, values long enough for varint lengths, every length across the boundary, none left.
    for count, used in [*((10**digits, 1) for digits in range(45)), (5, 7)]:
        usage = Usage(Limit(count, 60), used, 60)
        expected = pb.CheckResponse()
        for name, value in (("ratelimit-limit", str(count)), ("ratelimit-remaining", str(max(0, count - used))),
                            ("ratelimit-reset", "60")):  # fmt: skip
            option = expected.ok_response.response_headers_to_add.add()
            option.header.key, option.header.value = name, value
        assert pb.CheckResponse.FromString(_rate_headers_bytes(usage)) == expected
    assert _rate_headers_bytes(None) == b""


def test_a_new_catalog_version_retires_the_prepared_allows():
    a, t = in_process_adapter(), token()
    assert whole(a, t).allowed
    assert warm(a, t) is not None
    doc = catalog_document()
    doc["subscriptions"] = [s for s in doc["subscriptions"] if s["applicationUUID"] != "app-subscribed"]
    assert a.publish(doc)
    assert warm(a, t) is None
    assert whole(a, t).code == "900908"  # the whole check sees the subscription gone
    assert warm(a, t) is None  # and a denial is never prepared


def test_a_prepared_allow_ends_when_its_token_expires():
    a = in_process_adapter()
    t = token(lifetime=60)
    assert whole(a, t).allowed
    assert warm(a, t) is not None
    principal = a.authenticator.cache.get(fingerprint(t), 0)
    later = principal.expires_at + 1
    a.clock = lambda: later
    assert warm(a, t) is None
    expired = whole(a, t)
    assert (expired.code, expired.reason) == ("900901", "expired")  # JWTValidator.checkTokenExpiration's answer


def test_a_warm_check_over_its_limit_is_throttled_like_the_whole_check():
    a, t = in_process_adapter(), token("throttled-grpc")  # the Tiny tier
    assert whole(a, t).allowed
    answers = [warm(a, t) for _ in range(TINY_LIMIT)]
    assert all(isinstance(answer, tuple) for answer in answers[: TINY_LIMIT - 1])
    throttled = answers[-1]
    assert isinstance(throttled, Decision)
    assert (throttled.status, throttled.code) == (429, "900804")


def test_with_several_counters_a_warm_check_reports_and_denies_as_the_whole_check():
    """The application's tier (4 a minute) is tighter than the subscription's (6) and denies when reached; whole
    and warm checks, alternating, report the same tightest counter and deny alike, and a refused check counts on
    neither tier."""
    doc = catalog_document({"several": ("UNBLOCKED", "Six")})
    doc["subscriptionPolicies"].append(per_minute("Six", 6))
    doc["applicationPolicies"] = [per_minute("Four", 4)]
    doc["applications"][0]["policy"] = "Four"
    a, t = in_process_adapter(doc), token("several")
    answers = [whole(a, t)]  # it prepares the allow
    answers += [warm(a, t) if i % 2 else whole(a, t) for i in range(1, 7)]
    assert [isinstance(answer, tuple) for answer in answers] == [False, True, False, True, False, False, False]
    allowed = [answer[1] if isinstance(answer, tuple) else answer.usage for answer in answers[:4]]
    assert [(u.limit.count, u.remaining) for u in allowed] == [(4, 3), (4, 2), (4, 1), (4, 0)]
    denials = answers[4:]
    assert all(
        isinstance(d, Decision) and (d.status, d.code, d.usage.limit.count) == (429, "900803", 4) for d in denials
    )
    assert [d.usage.used for d in denials] == [4, 4, 4]  # refused: counted nowhere, as APIM's gateway


def test_past_a_tier_that_only_counts_checks_go_on_uncounted_and_no_later_tier_is_looked_at():
    """A subscription tier with stopOnQuotaReach: false lets requests past its limit go on, and APIM's gateway then
    neither checks the application's tier nor publishes the request (ThrottleHandler): the application's 3 a minute
    never refuses this subscription's requests once its own 2 are reached. Whole and warm checks alike."""
    doc = catalog_document({"several": ("UNBLOCKED", "Counting")})
    doc["subscriptionPolicies"].append({**per_minute("Counting", 2), "stopOnQuotaReach": False})
    doc["applicationPolicies"] = [per_minute("Three", 3)]
    doc["applications"][0]["policy"] = "Three"
    a, t = in_process_adapter(doc), token("several")
    answers = [whole(a, t)] + [warm(a, t) if i % 2 else whole(a, t) for i in range(1, 6)]
    # A warm check past the limit answers with the whole check's Decision (an allow), not the prepared one.
    assert all(isinstance(answer, tuple) or answer.allowed for answer in answers)
    usages = [answer[1] if isinstance(answer, tuple) else answer.usage for answer in answers]
    assert [(u.limit.count, u.used) for u in usages] == [(2, 1), (2, 2)] + [(2, 2)] * 4  # the tightest, not moved


def test_deny_policies_still_apply_per_client_address():
    doc = catalog_document()
    doc["blockConditions"] = {"ip": [{"type": "IP", "fixedIp": "203.0.113.9", "invert": False}]}
    a, t = in_process_adapter(doc), token()
    assert whole(a, t).allowed
    assert warm(a, t) is not None
    assert warm(a, t, client_ip="203.0.113.9") is None  # the whole check answers it ...
    assert whole(a, t, client="203.0.113.9").code == "900805"  # ... with the deny policy


def test_warm_checks_are_counted_in_the_metrics():
    a, t = in_process_adapter(), token()
    labels = ("HttpbinAPI", "subscribed", "Gold", "allow", "")

    def counted() -> tuple[float, float]:
        metrics.TALLIES.fold()
        hits = metrics.TOKEN_CACHE.labels("hit")._value.get()
        return metrics.DECISIONS.labels(*labels)._value.get(), hits

    decisions, hits = counted()
    assert whole(a, t).allowed
    for _ in range(5):
        assert warm(a, t) is not None
    assert counted() == (decisions + 6, hits + 5)  # the first check verified the token: not a cache hit


def test_opaque_tokens_are_not_prepared_when_they_are_introspected():
    a = in_process_adapter()
    a.authenticator._introspectors = {"km": object()}  # type: ignore[dict-item]
    assert a.authenticator.kept_until_expiry(token())
    assert not a.authenticator.kept_until_expiry("an-opaque-token")


def test_counters_and_tallies_lose_nothing_under_concurrent_threads():
    threads, limiter, limit, per_thread = 8, LocalRateLimiter(), Limit(10**9, 60), 5000
    now = time.time()
    seen: list[int] = []

    def work() -> None:
        counts = [limiter.hit_now([("k", limit)], now)[0].used for _ in range(per_thread)]
        seen.extend(counts)
        for _ in range(per_thread):
            metrics.checked((metrics.DECISIONS, "lockfree", "", "", "allow", ""), "grpc", 0.0002)

    child = metrics.DECISIONS.labels("lockfree", "", "", "allow", "")
    metrics.TALLIES.fold()
    before = child._value.get()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as Python lets them: a lost update would show
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    assert sorted(seen) == list(range(1, threads * per_thread + 1))  # every count handed out exactly once
    metrics.TALLIES.fold()
    assert child._value.get() == before + threads * per_thread


def test_with_workers_each_worker_folds_its_own_counts_every_fold_interval():
    """Another worker's scrape reads this process's files and cannot fold its tallies: the worker folds them
    itself, every FOLD_SECONDS, so a scrape anywhere sees them at most that late."""
    child = metrics.DECISIONS.labels("shared-files", "", "", "allow", "")
    before = child._value.get()
    metrics.checked((metrics.DECISIONS, "shared-files", "", "", "allow", ""), "grpc", 0.0002)
    assert child._value.get() == before  # tallied on the check's thread, not yet in Prometheus
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:  # one fold done: stop the loop
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_fold_metrics_forever(sleep))
    assert slept == [metrics.FOLD_SECONDS] * 2
    assert child._value.get() == before + 1
