"""Posts one payload to each URL through the kit's Locust request path; one JSON line per URL.

Run by tests in a process of its own (`python tests/locust_driver.py TIMEOUT [--vss-ca-bundle
PATH] [--vss-insecure] URL...`): importing Locust patches the whole process with gevent, which must
never happen to the pytest process.
Each line is `{"url": ..., "outcome": ..., "reason": ...}`, parsed from the failure message
Locust records for the request (`"<outcome>: <reason>"`), or `acked` when it succeeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import locust  # patches the process with gevent before anything else is imported
from locust.env import Environment

from emitter import locustfile

BODY = b'{"namespace":"VOICE","eventType":"SESSION_SUMMARY","payload":{"sessionId":"s-1"}}'


def _options(timeout_s: float, ca_bundle: str | None, insecure: bool) -> argparse.Namespace:
    return argparse.Namespace(
        vss_scenario=None,
        vss_file=None,
        vss_file_once=False,
        vss_seed=1,
        vss_start_at=None,
        vss_auth_header=None,
        vss_header=None,
        vss_timeout=timeout_s,
        vss_accept_2xx=False,
        vss_ca_bundle=ca_bundle,
        vss_insecure=insecure,
    )


def post_once(
    url: str, timeout_s: float, *, ca_bundle: str | None = None, insecure: bool = False
) -> dict[str, Any]:
    plan = locustfile.build_plan(_options(timeout_s, ca_bundle, insecure))
    locustfile._State.plan = plan
    locustfile.VssUser.host = url  # what `--host` sets when Locust runs the user
    environment = Environment(user_classes=[locustfile.VssUser], host=url, events=locust.events)
    seen: list[dict[str, Any]] = []

    def heard(**kwargs: Any) -> None:
        seen.append(kwargs)

    environment.events.request.add_listener(heard)
    try:
        user = locustfile.VssUser(environment)
        user._post(name="probe", body=BODY, plan=plan)
    finally:
        environment.events.request.remove_listener(heard)
    error = seen[-1]["exception"]
    if error is None:
        return {"url": url, "outcome": "acked", "reason": ""}
    message = str(error.args[0]) if error.args else str(error)
    outcome, _, reason = message.partition(": ")
    return {"url": url, "outcome": outcome, "reason": reason}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("timeout_s", type=float)
    parser.add_argument("--vss-ca-bundle", default=None)
    parser.add_argument("--vss-insecure", action="store_true")
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args(argv)
    for url in args.urls:
        answer = post_once(
            url, args.timeout_s, ca_bundle=args.vss_ca_bundle, insecure=args.vss_insecure
        )
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
