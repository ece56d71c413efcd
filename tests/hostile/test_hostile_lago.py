"""The client under a hostile or failing Lago, end to end through the CLI.

The local emulator already matches the workspace, so the right answer of ``plan`` is "No changes"
and any write by ``apply`` is wrong. A ``Hostile`` transport in front of the emulator misbehaves on
chosen requests; each test asserts the exit code, the message, bounded work (requests counted,
the client's injected sleeps recorded: no real time passes) and that nothing was written."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_helpers import HostileLago, assert_no_crash, hostile_lago

from lagosync.client import core

PLANS = "/api/v1/plans"


@pytest.fixture
def lago(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HostileLago:
    return hostile_lago(tmp_path / "ws", monkeypatch)


def on_plans_list(answer: Any):
    """A script answering ``answer`` (a Response, or a callable of the request) to GET /plans lists."""
    def script(request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.path == PLANS:
            return answer(request) if callable(answer) else answer
        return None
    return script


def error_line(result) -> str:
    assert_no_crash(result)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_untouched_lago_has_no_changes(lago: HostileLago) -> None:
    result = lago.run("plan")
    assert result.exit_code == 0 and "No changes" in result.output
    assert lago.transport.writes == [] and lago.sleeps.waits == []


WRONG_LIST_ANSWERS = {
    "204": (httpx.Response(204), "HTTP 204 with no body; a read must be answered 200 with a JSON object"),
    "301 empty": (httpx.Response(301, headers={"Location": "https://lago.example.com/api/v1/plans"}),
                  "HTTP 301 redirect to https://lago.example.com/api/v1/plans; lagosync does not follow redirects"),
    "plans object": (httpx.Response(200, json={"plans": {}, "meta": {"total_pages": 0, "total_count": 0}}),
                     "'plans' in the answer is a JSON object, not a list"),
    "plans null": (httpx.Response(200, json={"plans": None}), "'plans' in the answer is an empty body or null, not a list"),
    "no plans key": (httpx.Response(200, json={"meta": {}}), "the answer has no 'plans' list"),
    "a JSON list": (httpx.Response(200, json=[]), "HTTP 200 with a JSON list where a JSON object is expected"),
    "no meta": (httpx.Response(200, json={"plans": []}), "the answer has no 'meta' object"),
    "html": (httpx.Response(200, text="<html>maintenance</html>"), "HTTP 200 with a non-JSON body"),
}


@pytest.mark.parametrize("case", sorted(WRONG_LIST_ANSWERS))
@pytest.mark.parametrize("command", [("plan",), ("apply", "--auto-approve")])
def test_a_wrong_list_answer_is_an_error_never_lago_has_none(lago: HostileLago, case: str, command: tuple) -> None:
    answer, message = WRONG_LIST_ANSWERS[case]
    lago.transport.script = on_plans_list(answer)
    line = error_line(lago.run(*command))
    assert "GET /plans" in line and message in line, line
    assert "to create" not in line
    assert lago.transport.writes == []  # apply wrote nothing
    assert lago.transport.count("GET", PLANS) == 1  # not retried: a wrong answer does not get better
    assert len(lago.transport.requests) <= 15


def test_a_redirect_names_its_location_without_a_password(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(
        httpx.Response(302, headers={"Location": "https://admin:hunter2hunter2@other.example/api/v1/plans"}))
    line = error_line(lago.run("apply", "--auto-approve"))
    assert "HTTP 302 redirect to https://***@other.example/api/v1/plans" in line
    assert "hunter2" not in lago.run("plan").output
    assert lago.transport.writes == []


def plans_page(n: int, meta: dict) -> httpx.Response:
    items = [{"lago_id": f"p{i}", "code": f"p{i}"} for i in range(n)]
    return httpx.Response(200, json={"plans": items, "meta": meta})


def test_a_next_page_that_loops_back_is_stopped_at_once(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(lambda r: plans_page(100, {"next_page": 1 if r.url.params["page"] == "2" else 2}))
    line = error_line(lago.run("apply", "--auto-approve"))
    assert "GET /plans: meta.next_page 1 after page 2 does not move forward (a pagination loop)" in line
    assert lago.transport.count("GET", PLANS) == 2 and lago.transport.writes == []


def test_a_next_page_after_a_short_page_is_refused(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(plans_page(3, {"next_page": 2}))
    line = error_line(lago.run("plan"))
    assert "page 1 holds 3 items, fewer than 100, yet meta.next_page says more follow" in line
    assert lago.transport.count("GET", PLANS) == 1


def test_a_million_pages_are_not_requested(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(plans_page(100, {"total_pages": 1_000_000, "total_count": 100_000_000}))
    line = error_line(lago.run("apply", "--auto-approve"))
    assert f"meta says 1,000,000 pages; lagosync reads at most {core.MAX_PAGES:,} pages of 100" in line
    assert lago.transport.count("GET", PLANS) == 1 and lago.transport.writes == []


def test_total_pages_must_agree_with_total_count(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(plans_page(3, {"total_pages": 1_000_000, "total_count": 3}))
    line = error_line(lago.run("plan"))
    assert "meta says total_pages 1,000,000 but total_count 3 makes 1 pages of 100" in line
    assert lago.transport.count("GET", PLANS) == 1


def test_a_short_page_before_the_last_is_an_error_not_a_partial_list(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(
        lambda r: plans_page(100 if r.url.params["page"] != "2" else 40, {"total_pages": 3, "total_count": 300}))
    line = error_line(lago.run("apply", "--auto-approve"))
    assert "page 2 of 3 holds 40 items, fewer than 100: the list changed while it was read" in line
    assert lago.transport.count("GET", PLANS) == 3 and lago.transport.writes == []


def test_a_page_with_far_more_items_than_asked_is_refused(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(plans_page(100_000, {"total_pages": 1, "total_count": 100_000}))
    line = error_line(lago.run("plan"))
    assert "the answer holds 100,000 items, more than the 100 asked for" in line


def test_an_answer_over_the_size_limit_is_refused_while_read(lago: HostileLago,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "MAX_RESPONSE_BYTES", 64 * 1024)
    chunks_sent = []

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"plans": ['
            for n in range(10_000):  # 10 MB if it were read whole
                chunks_sent.append(n)
                yield b'{"code": "x"},' * 100

    lago.transport.script = on_plans_list(httpx.Response(200, stream=Endless()))
    line = error_line(lago.run("plan"))
    assert "GET /plans: the answer is larger than 65,536 bytes, more than lagosync reads from one response" in line
    assert len(chunks_sent) < 100  # reading stopped at the limit
    assert core.MAX_RESPONSE_BYTES == 64 * 1024


def test_the_default_response_limit_is_16_mib() -> None:
    assert core.MAX_RESPONSE_BYTES == 16 * 1024 * 1024


def test_a_dripping_answer_hits_the_deadline(lago: HostileLago) -> None:
    class Drip(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"plans": ['
            await asyncio.Event().wait()  # never ends: one byte a second would take forever too
            yield b""

    lago.transport.script = on_plans_list(lambda r: httpx.Response(200, stream=Drip()))
    line = error_line(lago.run("apply", "--auto-approve", env={"LAGOSYNC_DEADLINE": "0.2"}))
    assert ("lost the connection to Lago (no complete answer within 0.2 s; if this Lago is only slow, raise "
            "LAGOSYNC_DEADLINE) on GET /plans: the read did not complete and nothing was changed") in line
    assert lago.transport.count("GET", PLANS) == 1 and lago.transport.writes == []


def test_the_deadline_is_configurable_and_defaults_to_two_minutes() -> None:
    assert core.LagoClient("https://h", "k").deadline == core.DEFAULT_DEADLINE == 120.0
    assert core.LagoClient("https://h", "k", deadline=3).deadline == 3


def too_many(retry_after: str) -> httpx.Response:
    return httpx.Response(429, json={"status": 429, "error": "Too Many Requests"}, headers={"Retry-After": retry_after})


def test_a_huge_retry_after_is_refused_at_once(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(too_many("999999"))
    line = error_line(lago.run("apply", "--auto-approve"))
    assert ("Lago answered HTTP 429 to GET /plans and asks to wait 999,999 s before retrying; lagosync waits at "
            f"most {core.MAX_RETRY_AFTER:g} s at a time: run the command again later") in line
    assert lago.sleeps.waits == [] and lago.transport.count("GET", PLANS) == 1
    assert lago.transport.writes == []


def test_waits_are_bounded_in_total_and_announced(lago: HostileLago) -> None:
    lago.transport.script = on_plans_list(too_many("60"))
    result = lago.run("plan", env={"LAGOSYNC_MAX_RETRIES": "20"})
    line = error_line(result)
    assert "rate limited by Lago" in line and "GET /plans after 6 attempts" in line
    assert lago.sleeps.waits == [60.0] * 5  # 300 s in all: MAX_TOTAL_WAIT, though 20 retries were allowed
    assert sum(lago.sleeps.waits) == core.MAX_TOTAL_WAIT
    notices = [x for x in result.stderr.splitlines() if x.startswith("lagosync: Lago answered HTTP 429 to GET /plans")]
    assert len(notices) == 5 and "retrying in 60.0 s (retry 1 of 20)" in notices[0]


def test_a_read_is_retried_after_a_500_and_a_dropped_connection(lago: HostileLago) -> None:
    failures = iter(["500", "drop"])

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == PLANS:
            failure = next(failures, None)
            if failure == "500":
                return httpx.Response(500, text="<html>We're sorry</html>")
            if failure == "drop":
                raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return None

    lago.transport.script = flaky
    result = lago.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.output
    assert lago.transport.count("GET", PLANS) >= 3 and lago.transport.writes == []
    assert len(lago.sleeps.waits) == 2 and all(w < 2 for w in lago.sleeps.waits)  # two short backoffs


def test_a_read_that_keeps_failing_is_worded_as_a_read(lago: HostileLago) -> None:
    def drop(request: httpx.Request) -> httpx.Response | None:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    lago.transport.script = on_plans_list(drop)
    line = error_line(lago.run("apply", "--auto-approve", env={"LAGOSYNC_MAX_RETRIES": "2"}))
    assert ("lost the connection to Lago (lago.local:80 closed the connection without an answer) on GET /plans after 3 attempts: the read did not "
            "complete and nothing was changed") in line
    assert "may or may not" not in line
    assert lago.transport.count("GET", PLANS) == 3 and len(lago.sleeps.waits) == 2
    lago.transport.script = on_plans_list(httpx.Response(500, text="<html>We're sorry</html>"))
    line = error_line(lago.run("plan", env={"LAGOSYNC_MAX_RETRIES": "1"}))
    assert "HTTP 500 with a non-JSON body on GET /plans after 2 attempts" in line and "may or may not" not in line


def test_rate_limit_headers_pace_requests_on_any_host(lago: HostileLago) -> None:
    seen = {"n": 0}

    def script(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/api/v1/organizations" and seen["n"] == 0:
            seen["n"] += 1
            return httpx.Response(200, json={"organization": {"name": "Lago emulator", "lago_id": "o"}},
                                  headers={"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                                           "X-RateLimit-Reset": "2"})
        return None

    lago.transport.script = script
    result = lago.run("plan", env={"LAGOSYNC_RATE_LIMIT": ""})
    assert result.exit_code == 0 and "No changes" in result.output, result.output
    assert lago.sleeps.waits and all(w == pytest.approx(2.0, abs=0.05) for w in lago.sleeps.waits)
    assert len(lago.sleeps.waits) <= 8  # only the requests started inside the window waited (concurrency 8)


def test_remaining_requests_in_the_window_do_not_slow_anything(lago: HostileLago) -> None:
    lago.transport.script = None
    lago.transport.after = lambda request, body: None
    result = lago.run("plan")
    assert result.exit_code == 0 and lago.sleeps.waits == []


def first_plan(change):
    def after(request: httpx.Request, body: Any) -> Any:
        if request.method == "GET" and request.url.path == PLANS and isinstance(body, dict) and body.get("plans"):
            change(body["plans"][0])
            return body
        return None
    return after


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(charges={"a": 1}), "GET /plans: field 'charges' of plan "),
    (lambda p: p.update(charges="none"), "GET /plans: field 'charges' of plan "),
    (lambda p: p.pop("code"), "GET /plans: item 0 has no 'code'"),
    (lambda p: p.update(code=7), "GET /plans: item 0 has a non-string 'code' (7)"),
])
def test_an_unexpected_shape_inside_an_object_is_one_clear_error(lago: HostileLago, change, message: str) -> None:
    lago.transport.after = first_plan(change)
    line = error_line(lago.run("apply", "--auto-approve"))
    assert "unexpected answer from Lago to " + message in line, line
    assert lago.transport.writes == []


def test_plan_metadata_of_another_shape_is_named(lago: HostileLago) -> None:
    def after(request: httpx.Request, body: Any) -> Any:
        if request.method == "GET" and request.url.path == PLANS and isinstance(body, dict):
            for plan in body.get("plans") or []:
                plan["metadata"] = ["not", "a", "mapping"]
            return body
        return None

    lago.transport.after = after
    line = error_line(lago.run("apply", "--auto-approve"))
    assert "unexpected answer from Lago to GET /plans: field 'metadata' of plan " in line
    assert "is a list lagosync cannot read" in line
    assert lago.transport.writes == []
