"""Scenario + seed -> VSS payloads: realistic, internally consistent, byte-for-byte reproducible.

One module of about 950 lines on purpose: the realism tables, the session and leg plans, the
timeline and the stream loop draw from one random stream in one fixed order, which is what
fixes the bytes a seed gives; split apart, that order would be spread over files (the plans
also prove, once each, when msgspec may encode their payloads: generate_bodies). Overrides
(`--set`) live in emitter/_overrides.py. _SessionPlan.build is the hot path (replay runs it
per request): small helpers it needs per payload (_Choice.pick, clock_seq, draw_number,
_virtual_number, _quality, a single leg's timeline) are written out inline there, each marked
with the call it stands for; it must draw exactly what that call draws, in the same order
(tests/test_golden.py checks it). UUIDs are uuid1_at's own.
"""

from __future__ import annotations

import math
import os
import random
from bisect import bisect
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from math import exp as _exp
from math import log as _log
from operator import itemgetter
from typing import Any, Final

from emitter._numbers import (
    FIXED,
    MOBILE,
    PARTY_COUNTRY_WEIGHTS,
    VIRTUAL_COUNTRY_WEIGHTS,
    Template,
    number_templates,
)
from emitter._overrides import OVERRIDE_PATH, apply_override, finite, parse_override
from emitter._payload import dumps, is_plain_leaf, plain_dumps
from emitter._seeds import scenario_seed
from emitter._timing import (
    DEFAULT_EPOCH,
    DEFAULT_SPAN_S,
    MINUTE_PREFIXES,
    SECOND_SUFFIXES,
    check_instant,
    clock_seq,
    minute_prefix,
    uuid1_at,
)
from emitter.errors import ScenarioError, UsageError
from emitter.scenarios import Scenario, load_scenario
from emitter.vocabulary import ERROR_CODES, EVENT_TYPE, NAMESPACE, leg_key

__all__ = ["apply_override", "dumps", "generate", "generate_bodies", "generate_tagged",
           "parse_override", "scenario_seed"]  # fmt: skip

# The documentation uses this one description for both its success and failure examples.
DESCRIPTION: Final = "Summary of a completed call session"
# IVR's session summaries carry a root `version`; 5 in every IVR example (FACTS.md).
IVR_VERSION: Final = 5

# --- weighted choice -------------------------------------------------------------------------


class _Choice:
    """A fixed weighted choice; one `random()` per pick."""

    __slots__ = ("cum", "only", "total", "values")

    def __init__(self, weighted: Mapping[Any, float] | Sequence[Any]) -> None:
        items = (
            list(weighted.items())
            if isinstance(weighted, Mapping)
            else [(v, 1.0) for v in weighted]
        )
        self.values = tuple(v for v, _ in items)
        cum: list[float] = []
        total = 0.0
        for _, w in items:
            total += float(w)
            cum.append(total)
        self.cum = cum
        self.total = total
        self.only = self.values[0] if len(self.values) == 1 else None

    def pick(self, rng: random.Random) -> Any:
        if self.only is not None:
            return self.only
        return self.values[bisect(self.cum, rng.random() * self.total)]


def _one_or_many(value: Any) -> _Choice:
    if isinstance(value, Mapping):
        return _Choice(value)
    if isinstance(value, list):
        return _Choice(value)
    return _Choice([value])


# --- realism tables --------------------------------------------------------------------------

# Seconds from initiated to answered (COMPLETED) or to the end of the attempt. Outbound PSTN
# callees pick up after a few rings; the platform answers inbound calls at once; carriers give
# up on unanswered calls after 30-60 s; busy and failed attempts end within seconds; a canceled
# call is abandoned by the caller while it rings; errors end where they start (as in the
# documentation's failure example, initiated == disconnected).
_RING: Final = {
    ("COMPLETED", "OUTBOUND"): (4, 18),
    ("COMPLETED", "INBOUND"): (0, 2),
    ("NO_ANSWER", "OUTBOUND"): (30, 60),
    ("NO_ANSWER", "INBOUND"): (30, 60),
    ("BUSY", "OUTBOUND"): (1, 6),
    ("BUSY", "INBOUND"): (1, 6),
    ("FAILED", "OUTBOUND"): (0, 4),
    ("FAILED", "INBOUND"): (0, 4),
    ("CANCELED", "OUTBOUND"): (3, 20),
    ("CANCELED", "INBOUND"): (3, 20),
    ("ERROR", "OUTBOUND"): (0, 0),
    ("ERROR", "INBOUND"): (0, 1),
}
_DEFAULT_TALK: Final = (5, 900)

# MOS in tenths (inclusive), packet loss in thousandths, jitter in ms, per documented band.
# MOS tops out near 4.5 on real narrowband calls, so "excellent" stays below 4.7; loss and
# jitter follow the documentation's advice (above 1-2 % loss and 30 ms jitter hurts).
_BANDS: Final = {
    "excellent": ((43, 46), (0, 3), (1, 20)),
    "good": ((40, 42), (1, 8), (5, 25)),
    "fair": ((36, 39), (5, 20), (15, 40)),
    "poor": ((31, 35), (15, 50), (30, 80)),
    "bad": ((15, 30), (40, 200), (60, 250)),
}
_REALISTIC_BANDS: Final = {"excellent": 62, "good": 22, "fair": 9, "poor": 5, "bad": 2}

_DEFAULT_ACTIONS: Final = {
    "COMPLETED": {"MAKE_CALL": 45, "HANGUP": 25, "SAY": 15, "PLAY_FILE": 10, "PLAY_TTS": 5},
    "COMPLETED_UNSUBSCRIBED": ["SAY_AND_CAPTURE"],
    "COMPLETED_UNSUB_ERROR": ["SAY_AND_CAPTURE"],
}
# IVR and Number Masking draw only the values their own pages show.
_PRODUCT_ACTIONS: Final = {
    "ivr": {"COMPLETED": {"MAKE_CALL": 60, "HANGUP": 30, "SAY_AND_CAPTURE": 10}},
    "masking": {
        "COMPLETED": {"MAKE_CALL": 90, "SAY": 10},
        "ERROR": {"MAKE_CALL": 3, "PLAY_TTS": 1},
    },
}
_SUB_ACCOUNTS: Final = {"acme-voice": 6, "acme-support": 3, "acme_apac": 2, "acme.notify": 1}
# Number Masking's examples show lower-case words joined by "_" ("8x8_test", "wavecell_voice").
_PRODUCT_SUB_ACCOUNTS: Final = {
    "masking": {"acme_voice": 5, "acme_masking": 3, "acme_test": 1, "wavecell_acme": 1},
}

_PRODUCT_CALL_TYPE: Final = {
    "messaging": "PSTN",  # documented: always PSTN
    "ivr": "PSTN",
    "masking": "PSTN",  # documented: always PSTN
    "sip": "VOIP",
}
# IVR and Number Masking payloads: INBOUND legs carry destinationRefId and no sourceRefId,
# and durations are rounded from sub-second instants (their examples show both).
_REF_BY_DIRECTION: Final = frozenset({"ivr", "masking"})
# Seconds between the first leg's answer and the next leg's dialling: an IVR caller listens to
# the menu and presses keys (scenario 1 of IVR's page: 8 s); Number Masking bridges at once
# (its example: 2 s); otherwise a short greeting.
_BRIDGE_GAP: Final = {"ivr": (4, 14), "masking": (0, 2)}
# Share of API-started IVR sessions whose request carried a clientRequestId (the user's
# option); a session a caller started has none (IVR's inbound examples carry none).
_CLIENT_REQUEST_ID_SHARE: Final = 0.7


# --- compiled plans --------------------------------------------------------------------------


class _LegPlan:
    __slots__ = (
        "call_types",
        "completed",
        "direction",
        "domestic",
        "inbound",
        "party",
        "plain",
        "quality",
        "ref_key",
        "ring_lo",
        "ring_span",
        "status",
        "talk",
        "virtual",
    )

    def __init__(self, spec: Mapping[str, Any], product: str) -> None:
        self.direction: str = spec["direction"]
        self.inbound = self.direction == "INBOUND"
        # The key an INBOUND leg's reference goes under: IVR and Number Masking name the
        # dialled number in destinationRefId (and send no sourceRefId).
        self.ref_key = (
            "destinationRefId" if self.inbound and product in _REF_BY_DIRECTION else "sourceRefId"
        )
        self.status: str = spec["status"]
        self.completed = self.status == "COMPLETED"
        self.call_types = _one_or_many(spec.get("callType", _PRODUCT_CALL_TYPE[product]))
        countries = spec.get("countries", {})
        # The 8x8 side of a leg is a virtual number: the destination of an INBOUND leg, the
        # source (caller ID) of an OUTBOUND one. The other side is the far party.
        virtual_key, party_key = (
            ("destination", "source") if self.inbound else ("source", "destination")
        )
        self.virtual = _one_or_many(countries[virtual_key]) if virtual_key in countries else None
        self.party = _one_or_many(countries[party_key]) if party_key in countries else None
        self.domestic = float(spec.get("domestic", 0.8))
        lo, hi = _range(spec.get("ring"), _RING[(self.status, self.direction)])
        self.ring_lo, self.ring_span = lo, hi - lo + 1
        self.talk: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)
        self.quality: _Choice | None = None
        if self.status == "COMPLETED":
            tlo, thi = _range(spec.get("duration"), _DEFAULT_TALK)
            # Talk time is log-normal (many short calls, a long tail), centred on the
            # range's geometric mean with the range spanning about +-2.5 sigma.
            low = max(tlo, 1)
            mu = (math.log(low) + math.log(max(thi, low))) / 2
            sigma = (math.log(max(thi, low)) - math.log(low)) / 5
            self.talk = (tlo, thi, mu, sigma)
            band = spec.get("quality", "realistic")
            if band == "realistic":
                self.quality = _Choice({_band(_BANDS[b]): w for b, w in _REALISTIC_BANDS.items()})
            elif band != "none":
                self.quality = _Choice([_band(_BANDS[band])])
        # Every value the spec puts in a leg, for plain_dumps' precondition; the other leaves are
        # the generator's own strings and ints, and callQuality's floats (only from _BANDS).
        spec_leaves = [self.direction, self.status, *self.call_types.values]
        for choice in (self.virtual, self.party):
            spec_leaves.extend(choice.values if choice is not None else ())
        self.plain = all(map(is_plain_leaf, spec_leaves))

    def talk_time(self, rng: random.Random) -> int:
        lo, hi, mu, sigma = self.talk
        if sigma == 0.0:
            return lo
        value = int(math.exp(rng.gauss(mu, sigma)) + 0.5)
        return lo if value < lo else hi if value > hi else value


def _range(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return default
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


# A band as _quality draws it: (MOS top, MOS span, loss low, loss span, jitter low, jitter span).
_Band = tuple[int, int, int, int, int, int]


def _band(band: tuple[tuple[int, int], ...]) -> _Band:
    (mlo, mhi), (llo, lhi), (jlo, jhi) = band
    return mhi, mhi - mlo + 1, llo, lhi - llo + 1, jlo, jhi - jlo + 1


def _quality(rng: random.Random, band: _Band) -> dict[str, Any]:
    """callQuality in `band` (a _band()); build() draws the same inline."""
    mhi, mspan, llo, lspan, jlo, jspan = band
    # One draw drives all three so a lower MOS comes with more loss and jitter, as on a real
    # network; the other two draws add independent spread.
    u = rng.random()
    mos = (mhi - int(u * mspan)) / 10
    loss_thousandths = llo + int((u + rng.random()) / 2 * lspan)
    return {
        "mos": mos,
        # An integer 0 when there was no loss, as in the documentation's example.
        "packetLossRate": loss_thousandths / 1000 if loss_thousandths else 0,
        "jitter": jlo + int((u + rng.random()) / 2 * jspan),
    }


class _SessionPlan:
    __slots__ = (
        "actions",
        "api_started",
        "by_direction",
        "description",
        "error",
        "ivr",
        "ivr_api",
        "legs",
        "name",
        "plain",
        "product",
        "quirk_before_start",
        "quirk_capitalised",
        "quirk_out_of_order",
        "quirk_string_null",
        "reshapes",
        "status",
        "sub_accounts",
    )

    def __init__(self, scenario: Scenario) -> None:
        spec = scenario.spec
        session = spec["session"]
        self.name = scenario.name
        self.product = scenario.product
        self.status: str = session["status"]
        code = session.get("errorCode")
        self.error = {"errorMsg": ERROR_CODES[code], "errorCode": code} if code else None
        actions = _PRODUCT_ACTIONS.get(self.product, _DEFAULT_ACTIONS)
        self.actions = _one_or_many(
            session.get("lastAction", actions.get(self.status, ["MAKE_CALL"]))
        )
        self.sub_accounts = _one_or_many(
            session.get("subAccountId", _PRODUCT_SUB_ACCOUNTS.get(self.product, _SUB_ACCOUNTS))
        )
        self.by_direction = self.product in _REF_BY_DIRECTION
        legs = spec["legs"]
        self.api_started = bool(legs) and legs[0]["direction"] == "OUTBOUND"
        self.ivr = self.product == "ivr"
        # Whether a payload may carry a clientRequestId (then drawn): API-started IVR sessions.
        self.ivr_api = self.ivr and self.api_started
        self.description: str = session.get("description", DESCRIPTION)
        self.legs = tuple(_LegPlan(leg, self.product) for leg in spec["legs"])
        quirks = set(scenario.quirks)
        self.quirk_capitalised = "capitalised-leg-key" in quirks
        self.quirk_string_null = "string-null-source-ref-id" in quirks
        self.quirk_before_start = "leg-before-session-start" in quirks
        self.quirk_out_of_order = "legs-out-of-order" in quirks
        self.reshapes = self.quirk_string_null or self.quirk_capitalised or self.quirk_out_of_order
        # True when every payload build() returns meets plain_dumps' precondition: the spec's
        # values in it are plain leaves (a Scenario built in code, unvalidated, may hold a date
        # or a str subclass), and its only floats are callQuality's, whose bands are ours.
        spec_leaves = [
            self.status,
            self.description,
            *self.actions.values,
            *self.sub_accounts.values,
            *(self.error.values() if self.error is not None else ()),
        ]
        self.plain = all(map(is_plain_leaf, spec_leaves)) and all(leg.plain for leg in self.legs)

    def build(self, rng: random.Random, start: int) -> dict[str, Any]:
        # The generator's hot path (replay --scenario runs it per request): _Choice.pick and
        # the party's draw_number are written out inline, attributes read once; the draws are
        # the same calls in the same order as theirs.
        draw = rng.random
        templates = number_templates()
        stamps = _STAMPS
        by_direction = self.by_direction
        legs = self.legs
        cs = clock_seq(rng)
        session_id = uuid1_at(rng, start, cs)
        c = self.sub_accounts
        sub_account = c.only if c.only is not None else c.values[bisect(c.cum, draw() * c.total)]
        c = self.actions
        action = c.only if c.only is not None else c.values[bisect(c.cum, draw() * c.total)]
        body: dict[str, Any] = {
            "sessionId": session_id,
            "subAccountId": sub_account,
            "sessionStatus": self.status,
            "startTime": "",
            "endTime": "",
            "lastAction": action,
            "callCount": len(legs),
        }
        if self.ivr_api and draw() < _CLIENT_REQUEST_ID_SHARE:
            # Where IVR's scenario 1 has it: after callCount, before errorDetails and details.
            body["clientRequestId"] = _client_request_id(rng)
        if self.error is not None:
            body["errorDetails"] = dict(self.error)
        if not legs:
            # UNSUBSCRIBED_CONTACT: the contact is blacklisted, so no call is placed at all.
            body["startTime"] = body["endTime"] = stamps.get(start) or _stamp(start)
            body["details"] = {}
            return self._wrap(body)

        times: list[tuple[int, int | None, int]]
        if len(legs) == 1:
            # _timeline of one leg, inline: (initiated, connected or None, disconnected).
            first = legs[0]
            # An API-started (OUTBOUND) session dials within a second of starting; an INBOUND
            # session starts when the call arrives.
            init0 = start if first.inbound else start + (draw() < 0.4)
            conn0: int | None
            if first.completed:
                conn0 = answered = init0 + first.ring_lo + int(draw() * first.ring_span)
                lo, hi, mu, sigma = first.talk  # first.talk_time(rng), inline
                if sigma == 0.0:
                    end = answered + lo
                else:
                    talk = int(_exp(rng.gauss(mu, sigma)) + 0.5)
                    end = answered + (lo if talk < lo else hi if talk > hi else talk)
            else:
                conn0 = None
                end = init0 + first.ring_lo + int(draw() * first.ring_span)
            if self.quirk_before_start:
                # 8x8's success example initiates its leg 2 s before the session starts.
                init0 = start - 1 - int(draw() * 3)
            times = [(init0, conn0, end)]
        else:
            times = self._timeline(rng, start)
            end = max([t[2] for t in times])

        c = legs[0].virtual or _VIRTUAL
        vcountry = c.only if c.only is not None else c.values[bisect(c.cum, draw() * c.total)]
        # _virtual_number(rng, templates[vcountry]), inline
        kinds = templates[vcountry]
        vtemplates = kinds[FIXED] if draw() < 0.7 else kinds[MOBILE]
        fmt, span = vtemplates[int(draw() * len(vtemplates))]
        vnumber = fmt % int(draw() * span)
        r = draw()
        vref = (
            "PSTN%d" % (1 + int(r * 20))  # noqa: UP031
            if r < 0.15
            else "VN-%d" % (1000 + int(draw() * 9000))  # noqa: UP031
        )
        details: dict[str, Any] = {}
        # times has one entry per leg (an index: zip's strict=True costs a keyword call).
        for i, plan in enumerate(legs):
            init, conn, disc = times[i]
            lcountry, lnumber, lref = vcountry, vnumber, vref
            some = plan.virtual
            if some is not None and i:
                country = (
                    some.only
                    if some.only is not None
                    else some.values[bisect(some.cum, draw() * some.total)]
                )
                if country != vcountry:
                    lcountry = country
                    lnumber, lref = _virtual_number(rng, templates[country])
            some = plan.party
            if some is not None:
                pcountry = (
                    some.only
                    if some.only is not None
                    else some.values[bisect(some.cum, draw() * some.total)]
                )
            elif draw() < plan.domestic:
                pcountry = lcountry
            else:
                pcountry = _PARTY_VALUES[bisect(_PARTY_CUM, draw() * _PARTY_TOTAL)]
            kinds = templates[pcountry]
            # Far parties are mostly mobiles; about a quarter are landlines.
            party_templates = kinds[MOBILE] if draw() < 0.75 else kinds[FIXED]
            fmt, span = party_templates[int(draw() * len(party_templates))]
            pnumber = fmt % int(draw() * span)  # draw_number, inline
            call_id = uuid1_at(rng, init, cs)
            c = plan.call_types
            call_type = c.only if c.only is not None else c.values[bisect(c.cum, draw() * c.total)]
            # IVR and Number Masking: an INBOUND leg names the dialled virtual number in
            # destinationRefId and has no sourceRefId at all (their examples); Voice Messaging
            # sends sourceRefId null.
            if plan.inbound:
                src, scc, dst, dcc = pnumber, pcountry, lnumber, lcountry
                ref = lref if by_direction else None
            else:
                src, scc, dst, dcc = lnumber, lcountry, pnumber, pcountry
                ref = lref
            if conn is None:
                leg: dict[str, Any] = {
                    "callId": call_id,
                    "callDirection": plan.direction,
                    "callType": call_type,
                    "initiatedTimestamp": stamps.get(init) or _stamp(init),
                    "disconnectedTimestamp": stamps.get(disc) or _stamp(disc),
                    "source": src,
                    "destination": dst,
                    "sourceFormat": "MSISDN",
                    "destinationFormat": "MSISDN",
                    "sourceCountryCode": scc,
                    "destinationCountryCode": dcc,
                    plan.ref_key: ref,
                    "callStatus": plan.status,
                    "callDuration": 0,
                }
            else:
                leg = {
                    "callId": call_id,
                    "callDirection": plan.direction,
                    "callType": call_type,
                    "initiatedTimestamp": stamps.get(init) or _stamp(init),
                    "connectedTimestamp": stamps.get(conn) or _stamp(conn),
                    "disconnectedTimestamp": stamps.get(disc) or _stamp(disc),
                    "source": src,
                    "destination": dst,
                    "sourceFormat": "MSISDN",
                    "destinationFormat": "MSISDN",
                    "sourceCountryCode": scc,
                    "destinationCountryCode": dcc,
                    plan.ref_key: ref,
                    "callStatus": plan.status,
                    "callDuration": (
                        _rounded_duration(rng, conn, disc) if by_direction else disc - conn
                    ),
                }
                some = plan.quality
                if some is not None:
                    mhi, mspan, llo, lspan, jlo, jspan = (
                        some.only
                        if some.only is not None
                        else some.values[bisect(some.cum, draw() * some.total)]
                    )
                    # _quality(rng, band), inline
                    u = draw()
                    loss = llo + int((u + draw()) / 2 * lspan)
                    leg["callQuality"] = {
                        "mos": (mhi - int(u * mspan)) / 10,
                        "packetLossRate": loss / 1000 if loss else 0,
                        "jitter": jlo + int((u + draw()) / 2 * jspan),
                    }
            details[_LEG_KEYS[i]] = leg

        body["startTime"] = stamps.get(start) or _stamp(start)
        body["endTime"] = stamps.get(end) or _stamp(end)
        if self.reshapes:
            details = self._quirks(details)
        body["details"] = details
        return self._wrap(body)

    def _timeline(self, rng: random.Random, start: int) -> list[tuple[int, int | None, int]]:
        """(initiated, connected or None, disconnected) per leg, in whole seconds, of two legs
        or more (build() draws a single leg's inline, the same way)."""
        draw = rng.random
        legs = self.legs
        first = legs[0]
        # An API-started (OUTBOUND) session dials within a second of starting; an INBOUND
        # session starts when the call arrives.
        init0 = start if first.inbound else start + (draw() < 0.4)
        # The ring time, inline: ring_lo + one draw over ring_span.
        conn0 = init0 + first.ring_lo + int(draw() * first.ring_span) if first.completed else None
        # Later legs are dialled after the first is answered (a greeting or prompt plays
        # first), one after another: a hunt group tries the next agent when one does
        # not answer. The first leg stays up until the bridged call ends.
        gap = _BRIDGE_GAP.get(self.product)
        if gap is None:
            t = (conn0 if conn0 is not None else init0) + 1 + int(rng.random() * 4)
        else:
            t = (conn0 if conn0 is not None else init0) + gap[0]
            t += int(rng.random() * (gap[1] - gap[0] + 1))
        times = [(init0, conn0, init0)]
        for plan in legs[1:]:
            init = t
            conn: int | None
            ring = plan.ring_lo + int(draw() * plan.ring_span)
            if plan.completed:
                conn = init + ring
                disc = conn + plan.talk_time(rng)
            else:
                conn, disc = None, init + ring
            times.append((init, conn, disc))
            t = disc + int(rng.random() * 3)
        last = max(d for _, _, d in times[1:])
        # A caller left alone (nobody answered) hears a message before hanging up.
        tail = (
            int(rng.random() * 2)
            if legs[-1].status == "COMPLETED" or conn0 is None
            else int(rng.random() * 8)
        )
        times[0] = (init0, conn0, last + tail)
        if self.product == "masking" and conn0 is not None and times[1][1] is not None:
            # The masked caller's leg is answered when the hidden party answers (both legs
            # connect at 06:01:37 in Number Masking's example).
            times[0] = (init0, times[1][1], times[0][2])
        if self.quirk_before_start:
            # 8x8's success example initiates its leg 2 s before the session starts.
            _, c0, d0 = times[0]
            times[0] = (start - 1 - int(rng.random() * 3), c0, d0)
        return times

    def _quirks(self, details: dict[str, Any]) -> dict[str, Any]:
        if self.quirk_string_null:
            # The documentation's success example: "SourceRefId": "null" (key and value).
            for key, leg in list(details.items()):
                if leg["callDirection"] == "OUTBOUND":
                    details[key] = {
                        ("SourceRefId" if k == "sourceRefId" else k): (
                            "null" if k == "sourceRefId" else v
                        )
                        for k, v in leg.items()
                    }
        if self.quirk_capitalised:
            details = {"C" + k[1:]: v for k, v in details.items()}
        if self.quirk_out_of_order:
            # Number Masking's example lists callB before callA.
            keys = list(details)
            keys[0], keys[1] = keys[1], keys[0]
            details = {k: details[k] for k in keys}
        return details

    def _wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.ivr:
            return {
                "payload": body,
                "namespace": NAMESPACE,
                "eventType": EVENT_TYPE,
                "description": self.description,
                "version": IVR_VERSION,
            }
        return {
            "payload": body,
            "namespace": NAMESPACE,
            "eventType": EVENT_TYPE,
            "description": self.description,
        }


# Whole-second stamps by Unix time. A session's stamps fall within minutes of the next ones'
# (sessions start seconds apart and last minutes), so a minute is formatted once, all of its
# 60 stamps at a time, and then looked up; cleared when full so an endless stream cannot
# grow memory.
_STAMPS: dict[int, str] = {}
_STAMPS_MAX: Final = 1 << 14


def _stamp(epoch_s: int) -> str:
    """iso(epoch_s), with every other second of its minute, kept in _STAMPS. Callers look there
    first (`_STAMPS.get(t) or _stamp(t)`)."""
    if len(_STAMPS) > _STAMPS_MAX - 60:
        _STAMPS.clear()
    minute = epoch_s // 60
    prefix = MINUTE_PREFIXES.get(minute) or minute_prefix(minute)
    first = minute * 60
    _STAMPS.update(
        zip(range(first, first + 60), [prefix + s for s in SECOND_SUFFIXES], strict=True)
    )
    return _STAMPS[epoch_s]


# Leg keys by index: callA, callB, ... (a tuple index instead of a call per leg).
_LEG_KEYS: Final = tuple(leg_key(i) for i in range(26))

_PARTY: Final = _Choice(PARTY_COUNTRY_WEIGHTS)
# _PARTY.pick, inline in build.
_PARTY_VALUES, _PARTY_CUM, _PARTY_TOTAL = _PARTY.values, _PARTY.cum, _PARTY.total
_VIRTUAL: Final = _Choice(VIRTUAL_COUNTRY_WEIGHTS)


def _virtual_number(
    rng: random.Random, kinds: tuple[tuple[Template, ...], tuple[Template, ...]]
) -> tuple[str, str]:
    """(number, reference) of a virtual number: draw_number and the reference, in one call."""
    draw = rng.random
    # Virtual numbers are mostly geographic (landline ranges); some markets sell mobile ones.
    templates = kinds[FIXED] if draw() < 0.7 else kinds[MOBILE]
    fmt, span = templates[int(draw() * len(templates))]  # draw_number, inline
    number = fmt % int(draw() * span)
    # The reference of the virtual number used as caller ID: 8x8's failure example shows
    # "PSTN1"; account-managed numbers get their own reference (VN-1000 .. VN-9999).
    r = draw()
    if r < 0.15:
        return number, "PSTN%d" % (1 + int(r * 20))  # noqa: UP031
    return number, "VN-%d" % (1000 + int(draw() * 9000))  # noqa: UP031


def _rounded_duration(rng: random.Random, connected: int, disconnected: int) -> int:
    """callDuration from sub-second instants behind whole-second stamps, rounded half up.

    The stamps are the instants truncated to the second, the duration is the real difference
    rounded: IVR's examples show 23 s for 08:27:09 -> 08:27:33 and 37 s for 08:29:07 ->
    08:29:43, so about a quarter of legs differ by one second from their stamps.
    """
    connected_ms = int(rng.random() * 1000)
    if disconnected == connected:
        # Within one second the disconnect cannot come before the answer.
        disconnected_ms = connected_ms + int(rng.random() * (1000 - connected_ms))
    else:
        disconnected_ms = int(rng.random() * 1000)
    return ((disconnected - connected) * 1000 + disconnected_ms - connected_ms + 500) // 1000


def _client_request_id(rng: random.Random) -> str:
    # User-supplied, so any string: IVR's example sends "Request-Id-Client-Confirmation-1200";
    # other integrations send a UUID of their own.
    if rng.random() < 0.5:
        return "Request-Id-Client-Confirmation-%d" % (1000 + int(rng.random() * 9000))  # noqa: UP031
    return _uuid4(rng)


def _uuid4(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class _MixPlan:
    __slots__ = ("choice",)

    def __init__(self, scenario: Scenario) -> None:
        weights: dict[str, float] = {}
        plans: dict[str, _SessionPlan] = {}
        for part, weight in _flatten(scenario, 1.0, ()):
            if part.name not in plans:
                plans[part.name] = _SessionPlan(part)
            weights[part.name] = weights.get(part.name, 0.0) + weight
        self.choice = _Choice({(name, plans[name]): w for name, w in weights.items()})


def _flatten(
    scenario: Scenario, weight: float, chain: tuple[str, ...]
) -> Iterator[tuple[Scenario, float]]:
    if not scenario.components:
        yield scenario, weight
        return
    total = sum(w for _, w in scenario.components)
    for part, w in scenario.components:
        if part.name in chain:
            raise ScenarioError(f"{scenario.source}: mix includes {part.name!r} in a cycle")
        yield from _flatten(part, weight * w / total, (*chain, scenario.name))


# --- the public generator --------------------------------------------------------------------


_second: Final = itemgetter(1)
_tagged: Final = itemgetter(0, 1)


def generate(
    scenario: str | os.PathLike[str] | Scenario,
    *,
    seed: int,
    n: int | None = 1,
    start_at: datetime | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """`n` payloads of `scenario` (None: endless), a pure function of (scenario, seed, options)."""
    return map(_second, _opened(scenario, seed=seed, n=n, start_at=start_at, overrides=overrides))


def generate_tagged(
    scenario: str | os.PathLike[str] | Scenario,
    *,
    seed: int,
    n: int | None = 1,
    start_at: datetime | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Iterator[tuple[Scenario, dict[str, Any]]]:
    """Like generate(), each payload paired with the scenario that made it (a mix's member)."""
    return map(_tagged, _opened(scenario, seed=seed, n=n, start_at=start_at, overrides=overrides))


def generate_bodies(
    scenario: str | os.PathLike[str] | Scenario,
    *,
    seed: int,
    n: int | None = 1,
    start_at: datetime | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Iterator[tuple[Scenario, dict[str, Any], bytes]]:
    """Like generate_tagged(), each payload with its canonical bytes, `dumps(payload)`.

    The one place generated payloads are encoded by plain_dumps() instead of dumps: a payload
    whose plan proves plain_dumps' precondition (_SessionPlan.plain) and that no override (its
    scenario file's or `overrides`) touched; any other payload is encoded by dumps.
    """
    # Encoded inside the stream's own loop (one generator per payload, not two).
    return _opened(scenario, seed=seed, n=n, start_at=start_at, overrides=overrides, encoded=True)


def _opened(
    scenario: str | os.PathLike[str] | Scenario,
    *,
    seed: int,
    n: int | None,
    start_at: datetime | None,
    overrides: Sequence[tuple[str, Any]],
    encoded: bool = False,
) -> Iterator[tuple[Scenario, dict[str, Any], Any]]:
    """The checked stream of (member, payload, plain): plain when plain_dumps() may encode it;
    `encoded`: (member, payload, its bytes) instead, by plain_dumps() when plain, else dumps."""
    if n is not None and (not isinstance(n, int) or n < 0):
        raise UsageError(f"invalid count {n!r}: expected a whole number >= 0, e.g. -n 100")
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if start_at is not None:
        if start_at.tzinfo is None:
            raise UsageError(
                f"start_at {start_at.isoformat()} has no time zone; "
                "expected e.g. 2026-11-24T10:00:00Z"
            )
        check_instant(start_at, option="start_at")
    checked = [(p, v) for p, v in overrides]
    for path, value in checked:
        if not OVERRIDE_PATH.match(path):
            raise UsageError(f"invalid override path {path!r}: expected e.g. payload.subAccountId")
        if not finite(value):
            raise UsageError(
                f"invalid override {path}: NaN and Infinity are not JSON; give a finite number"
            )
    _rehearse(loaded, start_at=start_at, overrides=checked)
    return _stream(loaded, seed=seed, n=n, start_at=start_at, overrides=checked, encoded=encoded)


def _members(scenario: Scenario) -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}

    def walk(s: Scenario) -> None:
        if s.components:
            for part, _ in s.components:
                walk(part)
        else:
            found.setdefault(s.name, s)

    walk(scenario)
    return found


_Planned = tuple[str, Any, Scenario]  # (path, value, the scenario whose file set it)


def _file_overrides(scenario: Scenario) -> dict[str, list[_Planned]]:
    """Per member name, the scenario files' overrides in the order they apply."""
    members = _members(scenario)
    found = {
        name: [(path, value, s) for path, value in s.spec.get("overrides", {}).items()]
        for name, s in members.items()
    }
    # A mix's own overrides apply to every payload it draws, after its members' own.
    mix_overrides = (
        [(path, value, scenario) for path, value in scenario.spec.get("overrides", {}).items()]
        if scenario.components
        else []
    )
    return {name: own + mix_overrides for name, own in found.items()}


def _apply_all(
    payload: dict[str, Any],
    planned: list[_Planned],
    overrides: list[tuple[str, Any]],
    *,
    origin: str,
) -> None:
    for path, value, owner in planned:
        try:
            apply_override(payload, path, value)
        except UsageError as exc:
            where = owner.where(f"$.overrides.{path}")
            raise ScenarioError(f"{where}: $.overrides.{path}: {exc}") from None
    for path, value in overrides:
        try:
            apply_override(payload, path, value)
        except UsageError as exc:
            raise UsageError(f"--set {path}: {origin}: {exc}") from None


def _origin(scenario: Scenario, name: str) -> str:
    return scenario.name if name == scenario.name else f"{scenario.name}/{name}"


def _rehearse(
    scenario: Scenario, *, start_at: datetime | None, overrides: list[tuple[str, Any]]
) -> None:
    """Applies every override to one throwaway payload of each member scenario.

    A payload's shape (its legs, optional fields, quirks) follows from its scenario alone,
    never from the draws, so an override that cannot be set on the rehearsal cannot be set
    on any real payload either: it fails here, before the first payload is written, not after
    a partial output. The rehearsal has its own rng: the real stream's bytes do not change.
    """
    planned = _file_overrides(scenario)
    if not overrides and not any(planned.values()):
        return
    for path, value, owner in (p for member in planned.values() for p in member):
        _check_json(value, owner, path)
    rng = random.Random(0)
    t = int(start_at.timestamp()) if start_at is not None else DEFAULT_EPOCH
    for name, member in _members(scenario).items():
        payload = _SessionPlan(member).build(rng, t)
        _apply_all(payload, planned[name], overrides, origin=_origin(scenario, name))


def _check_json(value: Any, owner: Scenario, path: str) -> None:
    """ScenarioError, at the file and line, for a file's override value JSON cannot carry.

    YAML reads an unquoted 2024-01-01 as a date, !!binary and !!set as bytes and a set, and an
    alias inside its own anchor as a list that holds itself: dumps would refuse every payload
    (TypeError, RecursionError) after the first bytes were written.
    """
    try:
        dumps({"value": value})
    except (TypeError, ValueError, RecursionError):
        where = owner.where(f"$.overrides.{path}")
        hint = (
            "YAML reads an unquoted 2024-01-01 as a date; quote it: '2024-01-01'"
            if isinstance(value, date)
            else "give a string, number, true, false, null, list or mapping"
        )
        shown = type(value).__name__
        raise ScenarioError(
            f"{where}: $.overrides.{path}: a {shown} is not a JSON value ({hint})"
        ) from None


def _stream(
    scenario: Scenario,
    *,
    seed: int,
    n: int | None,
    start_at: datetime | None,
    overrides: list[tuple[str, Any]],
    encoded: bool,
) -> Iterator[tuple[Scenario, dict[str, Any], Any]]:
    rng = random.Random(scenario_seed(seed=seed, name=scenario.name))
    members = _members(scenario)
    applied = _file_overrides(scenario)
    # The loop below is the generator's hot path (replay --scenario runs it per request): the
    # mix's weighted choice is read inline, and everything per member is looked up once.
    if scenario.components:
        choice = _MixPlan(scenario).choice
    else:
        choice = _Choice([(scenario.name, _SessionPlan(scenario))])
    cum, total = choice.cum, choice.total
    # Per member: (name, its plan's bound build, its Scenario, whether plain_dumps() may encode
    # its payloads, the encoder when `encoded`: plain_dumps() or dumps by that).
    fast = plain_dumps() if encoded else None
    per_member = []
    for name, plan in choice.values:
        plain = plan.plain and not (applied[name] or overrides)
        encoder = (fast if plain else dumps) if fast is not None else None
        per_member.append((name, plan.build, members[name], plain, encoder))
    values = tuple(per_member)
    only = values[0] if len(values) == 1 else None
    any_overrides = bool(overrides) or any(applied.values())
    draw = rng.random
    if start_at is None:
        t = DEFAULT_EPOCH + int(draw() * DEFAULT_SPAN_S)
    else:
        t = int(start_at.timestamp())
    count = 0
    while n is None or count < n:
        # _Choice.pick, inline: no draw when there is one member.
        name, build, member, plain, encoder = (
            only if only is not None else values[bisect(cum, draw() * total)]
        )
        payload = build(rng, t)
        if any_overrides and (applied[name] or overrides):
            _apply_all(
                payload,
                applied[name],
                overrides,
                origin=f"payload {count + 1} of {_origin(scenario, name)}",
            )
        yield member, payload, plain if encoder is None else encoder(payload)
        count += 1
        # Sessions start in increasing order, a few seconds apart on average (Poisson arrivals):
        # random.expovariate(0.25), written out to save a call per payload.
        t += 1 + int(-_log(1.0 - draw()) / 0.25)
