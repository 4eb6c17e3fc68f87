"""The benchmark's yardsticks do the work they stand for (bench/trivial_server.py)."""

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2 as pb
from google.rpc import code_pb2, status_pb2

from bench.hotpath import check_request
from bench.trivial_server import MinimalWarmPath


def option(key: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(header=HeaderValue(key=key, value=value))


def test_the_minimal_warm_path_counts_each_check_and_answers_the_recorded_allow_with_its_own_rate_headers():
    recorded = pb.CheckResponse(
        status=status_pb2.Status(code=code_pb2.OK),
        ok_response=pb.OkHttpResponse(
            headers=[option("x-wso2-api-name", "HttpbinAPI")],
            response_headers_to_add=[option("ratelimit-remaining", "recorded")],  # replaced, not repeated
        ),
    )
    sketch = MinimalWarmPath(recorded)
    answers = [pb.CheckResponse.FromString(sketch.Check(check_request(token), None)) for token in "aab"]
    remaining = [
        {o.header.key: o.header.value for o in a.ok_response.response_headers_to_add}["ratelimit-remaining"]
        for a in answers
    ]
    assert remaining == [str(MinimalWarmPath.LIMIT - n) for n in (1, 2, 1)]  # one counter per token
    assert all(len(a.ok_response.response_headers_to_add) == 3 for a in answers)
    assert all(a.ok_response.headers == recorded.ok_response.headers for a in answers)
    assert len(sketch.pending) == 3  # every check queued its analytics tuple
