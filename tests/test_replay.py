"""The replay engine in process: streamed sources, outcomes from real servers, results, resume."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import servers

from emitter.deliver import DeliveryConfig, Outcome
from emitter.errors import DeliveryConfigError, InputError, UsageError
from emitter.generator import dumps, generate
from emitter.receiver import ReferenceReceiver
from emitter.replay import (
    BAD_INPUT,
    ReplayReport,
    ReplaySettings,
    classify_exception,
    format_summary,
    replay,
    write_report_json,
)
from emitter.replay._feed import fed
from emitter.replay._results import Acked
from emitter.replay._workers import max_workers
from emitter.sources import FileSource, Item, ScenarioSource

FAST = DeliveryConfig(timeout_s=2.0)


def write_fixture(path: Path, count: int, *, seed: int = 7) -> list[str]:
    """`count` valid payloads as NDJSON; returns their sessionIds in order."""
    ids = []
    with path.open("wb") as out:
        for payload in generate("mixed", seed=seed, n=count):
            ids.append(payload["payload"]["sessionId"])
            out.write(dumps(payload) + b"\n")
    return ids


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def deliveries(path: Path) -> list[dict[str, Any]]:
    return [r for r in records(path) if r["type"] == "delivery"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[ReferenceReceiver]:
    with ReferenceReceiver() as running:
        yield running


@pytest.fixture
def fresh(receiver: ReferenceReceiver) -> ReferenceReceiver:
    receiver.clear()
    return receiver


def run(url: str, files: list[Path], **kwargs: Any) -> ReplayReport:
    config = kwargs.pop("config", FAST)
    settings = ReplaySettings(**{"rate": None, "concurrency": 8, **kwargs})
    return replay(url=url, settings=settings, config=config, files=files)


# --------------------------------------------------------------------------- sources


def test_ndjson_source_streams_without_loading_the_file(tmp_path: Path) -> None:
    line = dumps(next(generate("completed", seed=1)))
    path = tmp_path / "big.ndjson"
    with path.open("wb") as out:
        out.writelines([line + b"\n"] * 200_000)
    size = path.stat().st_size
    items = iter(FileSource([path]))
    tracemalloc.start()
    try:
        first = [next(items) for _ in range(20_000)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del first
    # The kernel's file offset shows how far the source has read: what was used plus a buffer.
    opened = [fd for fd in os.listdir("/proc/self/fd") if _points_to(fd, path)]
    assert len(opened) == 1
    offset = int(Path(f"/proc/self/fdinfo/{opened[0]}").read_text().split()[1])
    assert offset < 20_000 * (len(line) + 1) + (1 << 20)
    assert peak < size / 4  # what was asked for, not the file's ~170 MB
    assert sum(1 for _ in items) == 180_000


def _points_to(fd: str, path: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}")) == path.resolve()
    except OSError:
        return False


def test_ndjson_bytes_are_sent_verbatim_in_order(tmp_path: Path) -> None:
    # Odd but valid JSON spacing must survive: replay never re-serialises a captured line.
    lines = [b'{ "payload" : { "sessionId" : "s-%d" } , "x" : 1.50 }' % i for i in range(5)]
    path = tmp_path / "odd.ndjson"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n\r\n")
    with servers.answering(200) as server:
        report = run(server.url, [path], concurrency=1)
        assert [r.body for r in server.requests] == lines
    assert report.acked == 5


def test_json_fixture_file_is_one_payload_sent_as_is(tmp_path: Path) -> None:
    payload = next(generate("completed", seed=3))
    pretty = json.dumps(payload, indent=2).encode()
    path = tmp_path / "one.json"
    path.write_bytes(pretty + b"\n")
    with servers.answering(200) as server:
        report = run(server.url, [path])
        assert server.requests[0].body == pretty
        assert server.requests[0].headers["content-type"] == "application/json"
    assert report.acked == 1


def test_bad_line_is_reported_with_file_and_line_and_counted_failed(tmp_path: Path) -> None:
    path = tmp_path / "mixed.ndjson"
    ids = write_fixture(path, 3)
    good = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([good[0], b"{not json", good[1], b"[1, 2]", good[2]]) + b"\n")
    notices: list[str] = []
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=None, concurrency=1, results=results),
            config=FAST,
            files=[path],
            on_notice=notices.append,
        )
        assert len(server.requests) == 3
    assert (report.sent, report.acked, report.failed, report.bad_input) == (3, 3, 0, 2)
    assert report.outcomes == {"acked": 3, BAD_INPUT: 2}
    assert report.exit_code == 1
    assert "failed 0" in format_summary(report)
    assert "bad input 2 (not sent)" in format_summary(report)
    assert notices[0].startswith(f"{path}:2: not JSON")
    assert notices[1].startswith(f"{path}:4: not a JSON object")
    assert {r["session_id"] for r in deliveries(results) if r["outcome"] == "acked"} == set(ids)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all\n", r"no line of the input files is a payload \(the first: .*:1: not"),
        (b"", "the input files hold none"),
        (b"\n\n", "the input files hold none"),
    ],
    ids=["bad-line", "empty", "blank"],
)
def test_a_file_with_no_payload_is_refused_before_anything_is_sent(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "nj.ndjson"
    path.write_bytes(content)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        with pytest.raises(InputError, match=message):
            run(server.url, [path], results=results)
        assert server.requests == []
    assert not results.exists()


def test_a_payload_after_many_bad_lines_is_still_found_and_sent(tmp_path: Path) -> None:
    path = tmp_path / "junk.ndjson"
    payload = path.with_name("one.ndjson")
    write_fixture(payload, 1)
    path.write_bytes(b"junk\n" * 10_050 + payload.read_bytes())
    with servers.answering(200) as server:
        report = run(server.url, [path])
        assert len(server.requests) == 1
    assert (report.sent, report.acked, report.failed, report.bad_input) == (1, 1, 0, 10_050)
    assert report.exit_code == 1


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        run("http://127.0.0.1:9/", [tmp_path / "nope.ndjson"])


# --------------------------------------------------------------------------- delivery and report


def test_every_payload_reaches_the_reference_receiver_once(
    tmp_path: Path, fresh: ReferenceReceiver
) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 60)
    results = tmp_path / "results.ndjson"
    report = run(fresh.url, [path], rate=300.0, results=results)
    assert sorted(d.session_id or "" for d in fresh.deliveries) == sorted(ids)
    assert all(d.status == 200 and not d.duplicate for d in fresh.deliveries)
    assert (report.sent, report.acked, report.failed, report.exit_code) == (60, 60, 0, 0)
    header, *rest = records(results)
    assert header["type"] == "header"
    assert header["source"] == {"files": [str(path.resolve())]}
    rest.sort(key=lambda r: r["index"])  # written as answers come, not as sends go
    assert [r["index"] for r in rest] == list(range(60))
    assert [r["session_id"] for r in rest] == ids
    first = rest[0]
    assert first["outcome"] == "acked"
    assert first["status"] == 200
    assert first["attempt"] == 1
    assert first["sent"] >= first["scheduled"] > 1.6e9  # unix seconds
    assert first["latency_ms"] >= first["service_ms"] > 0


def test_report_json_has_counts_rates_percentiles_and_redacted_target(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 10)
    config = DeliveryConfig(timeout_s=2.0, auth_header="Bearer hunter2-token")
    with servers.answering(200) as server:
        url = server.url.replace("http://", "http://user:pa55word@")
        report = run(url, [path], config=config)
    out = tmp_path / "report.json"
    write_report_json(report, out)
    data = json.loads(out.read_text())
    for key in ("sent", "acked", "failed", "late", "duration_s", "achieved_rate", "seed"):
        assert key in data
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert set(data["latency_from_send_ms"]) == {"p50", "p90", "p99", "p999", "max"}
    assert data["outcomes"] == {"acked": 10}
    assert data["rate"] == "max"
    assert data["concurrency"] == 8
    assert "pa55word" not in out.read_text()
    assert "hunter2" not in out.read_text()
    assert "pa55word" not in format_summary(report)
    assert not list(tmp_path.glob(".report.json.*"))  # the temp file was renamed


@pytest.mark.parametrize(
    ("factory", "outcome", "status"),
    [
        (lambda: servers.answering(500, b"boom"), Outcome.REJECTED, 500),
        (lambda: servers.answering(202), Outcome.REJECTED, 202),
        (lambda: servers.redirecting("http://127.0.0.1:9/elsewhere"), Outcome.REDIRECT, 302),
        (lambda: servers.resetting(), Outcome.RESET, None),
        (lambda: servers.resetting(hard=True), Outcome.RESET, None),
        (lambda: servers.garbage(b"SSH-2.0-OpenSSH_9.6\r\n"), Outcome.NOT_HTTP, None),
        (lambda: servers.slow(10.0), Outcome.TIMEOUT, None),
    ],
    ids=["500", "202", "redirect", "closed", "rst", "garbage", "timeout"],
)
def test_misbehaving_servers_get_the_shared_outcome(
    tmp_path: Path, factory: Any, outcome: Outcome, status: int | None
) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    results = tmp_path / "results.ndjson"
    # 2 s: an answer must not miss the deadline on a loaded 2-core machine; the slow server
    # answers well after it.
    config = DeliveryConfig(timeout_s=2.0)
    with factory() as server:
        report = run(server.url, [path], results=results, config=config)
    assert report.outcomes == {outcome.value: 1}, deliveries(results)
    assert (report.failed, report.exit_code) == (1, 1)
    (record,) = deliveries(results)
    assert (record["outcome"], record["status"]) == (outcome.value, status)


def test_closed_port_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 2)
    report = run(servers.closed_port_url(), [path])
    assert report.outcomes == {"refused": 2}


def test_tls_is_verified_unless_told_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    cert = servers.self_signed_cert(tmp_path)
    with servers.tls(cert) as server:
        untrusted = run(server.url, [path])
        insecure = run(server.url, [path], config=DeliveryConfig(verify_tls=False))
        pinned = run(server.url, [path], config=DeliveryConfig(ca_bundle=str(cert.cert)))
    assert untrusted.outcomes == {"tls": 1}
    assert insecure.outcomes == {"acked": 1}
    assert pinned.outcomes == {"acked": 1}


def test_dns_failures_map_to_dns() -> None:
    # Resolving a real name would leave loopback; the mapping is checked on the error the
    # event loop's resolver raises.
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify_exception(exc) is Outcome.DNS
    assert classify_exception(ValueError("anything else")) is Outcome.ERROR


def test_retries_resend_the_same_bytes_and_record_each_attempt(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    results = tmp_path / "results.ndjson"
    config = DeliveryConfig(timeout_s=2.0, retries=(0.05, 0.05, 0.05))
    with servers.flaky(2) as server:
        report = run(server.url, [path], results=results, config=config)
        bodies = {r.body for r in server.requests}
    assert len(bodies) == 1
    assert (report.sent, report.acked, report.retried, report.failed) == (1, 1, 2, 0)
    attempts = [(r["attempt"], r["outcome"]) for r in deliveries(results)]
    assert attempts == [(1, "rejected"), (2, "rejected"), (3, "acked")]


def test_a_retried_payload_is_timed_from_its_first_due_time(tmp_path: Path) -> None:
    # Two 503s, then an ack after two 0.3 s retry delays: the payload waited at least 0.6 s
    # from its schedule, however quick the last answer was; that answer's own time is the
    # "from send" figure.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    results = tmp_path / "results.ndjson"
    config = DeliveryConfig(timeout_s=2.0, retries=(0.3, 0.3))
    with servers.flaky(2) as server:
        report = run(server.url, [path], results=results, config=config)
    assert (report.acked, report.retried) == (1, 2)
    assert report.latency_ms.max >= 600
    assert report.latency_from_send_ms.max < report.latency_ms.max - 500
    attempts = deliveries(results)
    assert len({r["scheduled"] for r in attempts}) == 1  # every attempt: the first due time
    assert attempts[-1]["outcome"] == "acked"
    assert attempts[-1]["latency_ms"] >= 600
    assert attempts[-1]["sent"] - attempts[0]["scheduled"] >= 0.6
    assert attempts[-1]["service_ms"] < attempts[-1]["latency_ms"] - 500


def test_stalled_receiver_shows_in_latency_from_schedule(tmp_path: Path) -> None:
    # One sender, a receiver taking 200 ms, 50 requests a second asked for: each send waits
    # for the previous answer, so sends fall behind their schedule and that wait is latency.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 5)
    with servers.slow(0.2) as server:
        report = run(server.url, [path], rate=50.0, concurrency=1)
    assert report.acked == 5
    assert report.late == 4
    assert report.latency_ms.max > report.latency_from_send_ms.max + 0.3 * 1000


# --------------------------------------------------------------------------- results and resume


def test_resume_skips_what_was_acked_and_appends(tmp_path: Path, fresh: ReferenceReceiver) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 20)
    results = tmp_path / "results.ndjson"
    first = run(fresh.url, [path], results=results, limit=12)
    assert first.acked == 12
    second = run(fresh.url, [path], results=results, resume=True)
    assert (second.skipped, second.sent, second.acked) == (12, 8, 8)
    assert sorted(d.session_id or "" for d in fresh.deliveries) == sorted(ids)
    kinds = [r["type"] for r in records(results)]
    assert kinds.count("header") == 2
    assert kinds.count("delivery") == 20
    assert records(results)[13]["resumed"] is True


def test_resume_refuses_another_source(tmp_path: Path) -> None:
    one, other = tmp_path / "one.ndjson", tmp_path / "other.ndjson"
    write_fixture(one, 2)
    write_fixture(other, 2, seed=8)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        run(server.url, [one], results=results)
        with pytest.raises(UsageError, match="another source"):
            run(server.url, [other], results=results, resume=True)


def test_resume_refuses_a_source_whose_content_changed(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 3)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        run(server.url, [path], results=results)
        write_fixture(path, 3, seed=99)
        with pytest.raises(UsageError, match="does not match the source"):
            run(server.url, [path], results=results, resume=True)


def test_existing_results_file_needs_resume(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    results = tmp_path / "results.ndjson"
    results.write_text("")
    with pytest.raises(UsageError, match="already exists"):
        run("http://127.0.0.1:9/", [path], results=results)


def test_scenario_resume_reuses_the_stored_seed(tmp_path: Path, fresh: ReferenceReceiver) -> None:
    results = tmp_path / "results.ndjson"
    settings = ReplaySettings(rate=None, concurrency=4, limit=6, results=results)
    first = replay(
        url=fresh.url, settings=settings, config=FAST, scenarios=["mixed"], seed=41, draw_seed=None
    )
    resumed = replay(
        url=fresh.url,
        settings=ReplaySettings(rate=None, concurrency=4, limit=10, results=results, resume=True),
        config=FAST,
        scenarios=["mixed"],
    )
    assert first.seed == resumed.seed == 41
    assert (resumed.skipped, resumed.sent) == (6, 4)
    assert len({d.session_id for d in fresh.deliveries}) == 10
    with pytest.raises(UsageError, match="another source"):
        replay(
            url=fresh.url,
            settings=dataclasses.replace(settings, resume=True),
            config=FAST,
            scenarios=["mixed"],
            seed=42,
        )


def test_scenario_source_needs_a_bound() -> None:
    with pytest.raises(UsageError, match="never ends"):
        replay(url="http://127.0.0.1:9/", settings=ReplaySettings(rate=10.0), config=FAST)


def test_malformed_url_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    for url in ("ftp://example.com/", "http://", "not a url"):
        with pytest.raises(DeliveryConfigError):
            run(url, [path])


def test_no_send_leaves_before_its_scheduled_time(tmp_path: Path, fresh: ReferenceReceiver) -> None:
    source = tmp_path / "in.ndjson"
    write_fixture(source, 120)
    results = tmp_path / "results.ndjson"
    report = run(fresh.url, [source], rate=600.0, results=results)
    assert report.acked == 120
    sent = deliveries(results)
    assert len(sent) == 120
    # 1 us of slack: the log writes both times with 6 decimals.
    early = [r for r in sent if r["sent"] < r["scheduled"] - 1e-6 or r["latency_ms"] < 0]
    assert early == []


def test_resume_refuses_a_changed_file_before_sending_anything(
    tmp_path: Path, fresh: ReferenceReceiver
) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 12)
    results = tmp_path / "results.ndjson"
    # The first three fail, the rest are acked: a resume would start by resending 0..2.
    with servers.flaky(3, status=500) as server:
        first = run(server.url, [path], results=results, concurrency=1)
    assert (first.acked, first.failed) == (9, 3)
    changed = path.read_bytes().splitlines(keepends=True)
    other = dumps(next(generate("busy", seed=5))) + b"\n"
    changed[8] = other  # an acked payload, well after the unacked ones
    path.write_bytes(b"".join(changed))
    before = results.read_bytes()
    with pytest.raises(UsageError, match=r"payload 8 .*acked with another sessionId"):
        run(fresh.url, [path], results=results, resume=True, concurrency=1)
    assert fresh.deliveries == []
    assert results.read_bytes() == before  # no second header
    assert ids[8] not in other.decode()


def test_resume_refuses_acks_beyond_the_end_of_a_shorter_file(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 6)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        run(server.url, [path], results=results)
        path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:3]))
        with pytest.raises(UsageError, match=r"3 acked payload\(s\) beyond the end"):
            run(server.url, [path], results=results, resume=True)
        assert len(server.requests) == 6


def test_a_huge_index_in_the_results_costs_no_memory(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 3)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        run(server.url, [path], results=results, limit=1)
        with results.open("a") as log:
            log.write(
                json.dumps(
                    {"type": "delivery", "index": 10**12, "session_id": ids[1], "outcome": "acked"}
                )
                + "\n"
            )
        tracemalloc.start()
        try:
            with pytest.raises(UsageError, match="beyond the end of the source"):
                run(server.url, [path], results=results, resume=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"delivery","index":true,"session_id":"x","outcome":"acked"}',
        b'{"type":"delivery","index":1,"session_id":["x"],"outcome":"acked"}',
        b'{"type":"delivery","index":1,"session_id":{"a":1},"outcome":"acked"}',
        b"[" * 100_000,
        b"\xff\xfe binary",
    ],
    ids=["bool-index", "list-id", "object-id", "deep", "binary"],
)
def test_corrupt_results_records_are_skipped_not_a_crash(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 2)
    results = tmp_path / "results.ndjson"
    with servers.answering(200) as server:
        run(server.url, [path], results=results, limit=1)
        with results.open("ab") as log:
            log.write(line + b"\n")
        notices: list[str] = []
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=None, results=results, resume=True),
            config=FAST,
            files=[path],
            on_notice=notices.append,
        )
    assert (report.skipped, report.sent) == (1, 1)
    assert notices == [f"{results}: 1 unreadable line(s) ignored"]


def test_a_foreign_results_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    results = tmp_path / "results.ndjson"
    results.write_text('{"type":"header","source":[1,2]}\n')
    with pytest.raises(UsageError, match="written for another source"):
        run("http://127.0.0.1:9/", [path], results=results, resume=True)
    results.write_text(
        '{"type":"header","source":{"scenarios":["mixed"],"seed":1,"start_at":"soon"}}\n'
    )
    with pytest.raises(UsageError, match="unreadable start_at 'soon'"):
        replay(
            url="http://127.0.0.1:9/",
            settings=ReplaySettings(rate=None, limit=1, results=results, resume=True),
            config=FAST,
        )


@pytest.mark.parametrize("name", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("resume", [True, False], ids=["resume", "fresh"])
def test_a_results_file_that_is_a_source_is_refused_untouched(
    tmp_path: Path, name: str, resume: bool
) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 3)
    before = path.read_bytes()
    results = path
    if name == "symlink":
        results = tmp_path / "link.ndjson"
        results.symlink_to(path)
    elif name == "hardlink":
        results = tmp_path / "hard.ndjson"
        os.link(path, results)
    with servers.answering(200) as server:
        with pytest.raises(UsageError, match=r"is the source `.*in\.ndjson`: the log would be"):
            run(server.url, [path], results=results, resume=resume)
        assert server.requests == []
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b'{"payload":{"sessionId":"s-1"}}\n', b'{"a":1}\n', b"not json\n"],
    ids=["fixture", "object", "text"],
)
def test_resume_refuses_a_file_that_is_not_a_results_log(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 2)
    other = tmp_path / "other.ndjson"
    other.write_bytes(content)
    with servers.answering(200) as server:
        with pytest.raises(UsageError, match="is not a replay results log"):
            run(server.url, [path], results=other, resume=True)
        assert server.requests == []
    assert other.read_bytes() == content


def test_resume_on_an_empty_results_file_starts_a_fresh_log(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 2)
    results = tmp_path / "results.ndjson"
    results.write_bytes(b"")
    with servers.answering(200) as server:
        report = run(server.url, [path], results=results, resume=True)
    assert (report.sent, report.acked, report.skipped) == (2, 2, 0)
    assert records(results)[0]["type"] == "header"
    assert len(deliveries(results)) == 2


def test_a_results_device_is_refused_for_resume(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    with pytest.raises(UsageError, match="not a regular file"):
        run("http://127.0.0.1:9/", [path], results=Path("/dev/zero"), resume=True)


def test_a_bad_ca_bundle_is_refused_before_the_results_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    results = tmp_path / "results.ndjson"
    with pytest.raises(DeliveryConfigError, match="cannot use CA bundle"):
        run(
            "https://127.0.0.1:9/",
            [path],
            results=results,
            config=DeliveryConfig(ca_bundle=str(bundle)),
        )
    assert not results.exists()


def test_acked_indexes_far_apart_stay_correct_as_the_dense_part_grows() -> None:
    acked = Acked()
    acked.add(70_000, "far")  # beyond the dense slack at first: kept aside
    for index in range(140_001):
        if index != 70_000:
            acked.add(index, f"s{index}")
    assert acked.count == 140_001
    assert Item(70_000, "far", b"{}", "x:1") in acked
    with pytest.raises(UsageError, match="another sessionId"):
        _ = Item(70_000, "other", b"{}", "x:1") in acked


# --------------------------------------------------------------------------- answers on the wire


def raw_server(answer: bytes, *, keep_alive: bool = False) -> servers.Server:
    """Answers each request with `answer` verbatim; with keep_alive, serves requests until EOF."""

    def respond(server: servers.Server, conn: socket.socket, request: Any) -> None:
        while request is not None:
            conn.sendall(answer)
            if not keep_alive:
                return
            request = servers.read_request(conn)

    return servers.Server(respond)


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
UNTIL_EOF = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the connection closes"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n" + CHUNKED
CUT_SHORT = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
KEEP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (CHUNKED, Outcome.ACKED),
        (UNTIL_EOF, Outcome.ACKED),
        (INTERIM, Outcome.ACKED),
        (CUT_SHORT, Outcome.RESET),
        (b"HTTP/1.1 200 OK\r\nContent-Le", Outcome.RESET),
    ],
    ids=["chunked", "close-delimited", "1xx-then-final", "reset-mid-body", "reset-mid-head"],
)
def test_answer_framing_is_classified_like_the_other_stacks(
    tmp_path: Path, answer: bytes, outcome: Outcome
) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 3)
    with raw_server(answer) as server:
        report = run(server.url, [path], concurrency=2)
    assert report.outcomes == {outcome.value: 3}


def test_keep_alive_connections_are_reused(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 40)
    accepted = []

    def respond(server: servers.Server, conn: socket.socket, request: Any) -> None:
        accepted.append(conn)
        while request is not None:
            conn.sendall(KEEP)
            request = servers.read_request(conn)

    with servers.Server(respond) as server:
        report = run(server.url, [path], concurrency=2)
        assert len(server.requests) == 2  # the Server records the first request of each
    assert report.acked == 40
    assert len(accepted) == 2


def test_a_sender_that_cannot_keep_the_rate_says_so(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 300)
    with raw_server(KEEP, keep_alive=True) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=1_000_000.0, concurrency=4, duration_s=1.0),
            config=FAST,
            files=[itertools_cycle(path, tmp_path, times=400)],
        )
    assert report.sender_saturated
    lag = report.sender_lag
    assert lag is not None
    assert lag["unsent"] > 0
    assert lag["max_lag_ms"] > 0
    assert report.as_dict()["sender_saturated"] is True
    summary = format_summary(report)
    assert "SENDER SATURATED: this machine could not keep the rate 1000000/s" in summary
    assert "the sender's own lag" in summary
    assert report.exit_code == 0  # every payload sent was acked: the deliveries decide


def test_every_slot_due_before_the_duration_ends_is_sent_or_counted_unsent(
    tmp_path: Path,
) -> None:
    # 2,000/s for 0.5 s: 1,000 slots due before the end. The timer that sends the last ones
    # fires a millisecond or two after their due time, past the end; they still leave while
    # they are not late (here: within half a second, so a loaded machine cannot make the test
    # fail), and those that could not leave are counted, never silently dropped.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 1200)
    with raw_server(KEEP, keep_alive=True) as server:
        on_time = replay(
            url=server.url,
            settings=ReplaySettings(rate=2000.0, concurrency=8, duration_s=0.5, late_after_s=0.5),
            config=FAST,
            files=[path],
        )
        tight = replay(
            url=server.url,
            settings=ReplaySettings(rate=2000.0, concurrency=8, duration_s=0.5, late_after_s=0.0),
            config=FAST,
            files=[path],
        )
    assert on_time.sent == 1000
    assert on_time.sender_lag is None
    # No tolerance: the last slots, unless an answer freed a connection right at their due
    # time, wait for a timer that fires after the end; those are counted, and said.
    unsent = tight.sender_lag["unsent"] if tight.sender_lag is not None else 0
    assert tight.sent + unsent == 1000
    if unsent:
        assert f"{unsent:,} scheduled sends never left" in format_summary(tight)


def test_a_slow_schedule_ends_at_the_duration_and_sends_no_retry_after_it(
    tmp_path: Path,
) -> None:
    # One payload every 5 s for a 1 s run, answered 400 and retried every 0.3 s: the run ends
    # at the end of the duration, not when its next slot (5 s in) comes, and the retries due
    # after the end are not sent (the payload keeps its last outcome).
    path = tmp_path / "in.ndjson"
    write_fixture(path, 3)
    config = dataclasses.replace(FAST, retries=(0.3,) * 20)
    with servers.answering(400) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=0.2, concurrency=2, duration_s=1.0),
            config=config,
            files=[path],
        )
    assert report.sent == 1
    assert report.duration_s < 4.0  # the next slot is due at 5 s
    assert report.retried <= 4  # at 0.3, 0.6, 0.9 s (and one the tick may let through)
    assert report.outcomes == {"rejected": 1}


def test_no_send_leaves_late_after_the_duration_ends(tmp_path: Path) -> None:
    # A run that cannot keep the rate (here the receiver sets the pace) is far behind at the
    # end: the slots it still owes are the shortfall (unsent), never sent late after it.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 300)
    log = tmp_path / "results.ndjson"
    with raw_server(KEEP, keep_alive=True) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=1_000_000.0, concurrency=4, duration_s=0.5, results=log),
            config=FAST,
            files=[itertools_cycle(path, tmp_path, times=200)],
        )
    sends = deliveries(log)
    end = min(d["scheduled"] for d in sends) + 0.5
    after = [d for d in sends if d["sent"] >= end]
    assert all(not d["late"] for d in after), f"{sum(d['late'] for d in after)} late after the end"
    assert report.sender_lag is not None
    assert report.sender_lag["unsent"] > 0


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(1e6, "1000000/s"), (20.0 / 60.0, "0.333333/s"), (2.5, "2.5/s"), (None, "max")],
)
def test_a_rate_is_written_as_a_user_would_type_it(rate: float | None, shown: str) -> None:
    from emitter.report._replay import rate_text

    assert rate_text(rate) == shown


def test_a_receiver_that_sets_the_pace_is_not_blamed_on_the_sender(tmp_path: Path) -> None:
    # Four connections, each answer 50 ms: at most ~80/s against 1,000/s asked. The sends fall
    # far behind, but with every connection waiting for an answer: the receiver (and
    # --concurrency) set the pace, and --workers would not help.
    path = tmp_path / "in.ndjson"
    write_fixture(path, 300)
    with servers.slow(0.05) as server:
        report = replay(
            url=server.url,
            settings=ReplaySettings(rate=1000.0, concurrency=4, duration_s=1.5),
            config=FAST,
            files=[path],
        )
    assert not report.sender_saturated
    lag = report.sender_lag
    assert lag is not None
    assert lag["receiver_bound_s"] > lag["sender_behind_s"]
    # Only the payloads the file still held were not sent, not the ~1,400 slots due.
    assert 0 < lag["unsent"] <= 300 - report.sent
    assert lag["unsent_exact"] is True
    summary = format_summary(report)
    assert "SENDER SATURATED" not in summary
    assert "try --workers" not in summary
    assert "the receiver (or --concurrency) set the pace" in summary
    assert f"{lag['unsent']:,} scheduled sends never left" in summary


def itertools_cycle(path: Path, tmp_path: Path, *, times: int) -> Path:
    """`path`'s lines repeated `times` times (sessionIds repeat: the receiver does not mind)."""
    out = tmp_path / "many.ndjson"
    out.write_bytes(path.read_bytes() * times)
    return out


def test_report_has_a_timeline_and_a_percentile_distribution(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 30)
    with raw_server(KEEP, keep_alive=True) as server:
        report = run(server.url, [path], rate=100.0)
    data = report.as_dict()
    assert data["sender_saturated"] is False
    timeline = data["timeline"]
    assert sum(row["sent"] for row in timeline) == 30
    assert sum(row["acked"] for row in timeline) == 30
    assert set(timeline[0]) == {"t", "sent", "acked", "failed", "late", "p50_ms", "p99_ms"}
    assert [row["t"] for row in timeline] == sorted(row["t"] for row in timeline)
    for key in ("from_schedule", "from_send"):
        points = data["latency_percentiles"][key]
        assert points[0][0] == 0.0
        assert points[-1][0] == 100.0
        assert len(points) >= 10
        values = [ms for _, ms in points]
        assert values == sorted(values)


# --------------------------------------------------------------------------- --workers


def test_two_workers_deliver_every_payload_once_and_report_like_one(
    tmp_path: Path, fresh: ReferenceReceiver
) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 90)
    one = run(fresh.url, [path], rate=400.0, results=tmp_path / "one.ndjson")
    assert sorted(d.session_id or "" for d in fresh.deliveries) == sorted(ids)
    fresh.clear()
    results = tmp_path / "two.ndjson"
    two = run(fresh.url, [path], rate=400.0, results=results, workers=2)
    delivered = [d.session_id or "" for d in fresh.deliveries]
    assert sorted(delivered) == sorted(ids)  # each exactly once
    assert not any(d.duplicate for d in fresh.deliveries)
    for key in ("sent", "acked", "failed", "skipped", "retried", "exit_code"):
        assert getattr(two, key) == getattr(one, key), key
    assert two.outcomes == one.outcomes
    assert two.workers == 2
    data = two.as_dict()
    assert sum(row["sent"] for row in data["timeline"]) == 90
    # The merged log: one header, then every payload's record, whole lines only.
    header, *rest = records(results)
    assert header["workers"] == 2
    assert sorted(r["index"] for r in rest) == list(range(90))
    assert sorted(r["session_id"] for r in rest) == sorted(ids)


def test_more_workers_than_the_machine_takes_are_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "in.ndjson"
    write_fixture(path, 2)
    results = tmp_path / "results.ndjson"
    too_many = max_workers() + 1
    with servers.answering(200) as server:
        with pytest.raises(UsageError, match=f"Invalid --workers `{too_many}`: expected 1 to"):
            run(server.url, [path], results=results, workers=too_many)
        assert server.requests == []
    assert not results.exists()
    assert 2 <= max_workers() <= 64  # --workers 2 is always allowed, 1,000 never


def test_resume_works_across_workers(tmp_path: Path, fresh: ReferenceReceiver) -> None:
    path = tmp_path / "in.ndjson"
    ids = write_fixture(path, 50)
    results = tmp_path / "results.ndjson"
    first = run(fresh.url, [path], results=results, limit=21, workers=2)
    assert first.acked == 21
    second = run(fresh.url, [path], results=results, resume=True, workers=2)
    assert (second.skipped, second.sent, second.acked) == (21, 29, 29)
    assert sorted(d.session_id or "" for d in fresh.deliveries) == sorted(ids)


def test_generated_payloads_fed_from_a_child_process_are_the_same_stream() -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    here = list(itertools.islice(ScenarioSource(["mixed"], seed=11, start_at=start), 600))
    there = list(itertools.islice(fed(["mixed"], seed=11, start_at=start), 600))
    assert [(i.index, i.session_id, i.body, i.where) for i in there] == [
        (i.index, i.session_id, i.body, i.where) for i in here
    ]


def test_a_fed_scenario_that_cannot_load_is_one_error_line() -> None:
    with pytest.raises(InputError, match="no-such-scenario"):
        next(fed(["no-such-scenario"], seed=1, start_at=None))
