"""The VSS contract's fixed vocabulary: statuses, error codes, enums, and the status rule.

The generator and the consistency lint both read these, so what is generated and what is
checked cannot drift apart. Source: the 8x8 VSS page and FACTS.md (see README, "Contract").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

NAMESPACE: Final = "VOICE"
# A leg's key under `details`: callA, callB, ... (and "CallA", as one of 8x8's examples has it).
LEG_KEY: Final = re.compile(r"[cC]all[A-Z]")
EVENT_TYPE: Final = "SESSION_SUMMARY"

LEG_STATUSES: Final = ("COMPLETED", "NO_ANSWER", "BUSY", "CANCELED", "FAILED", "ERROR")
OPT_OUT_STATUSES: Final = (
    "COMPLETED_UNSUBSCRIBED",
    "COMPLETED_UNSUB_ERROR",
    "UNSUBSCRIBED_CONTACT",
)
SESSION_STATUSES: Final = LEG_STATUSES + OPT_OUT_STATUSES

CALL_DIRECTIONS: Final = ("INBOUND", "OUTBOUND")
CALL_TYPES: Final = ("PSTN", "VOIP")
NUMBER_FORMATS: Final = ("MSISDN",)
# Seen in 8x8's pages; lastAction is documented as open-ended ("e.g."), so the schema does not
# close the set, but the generator only draws from these.
LAST_ACTIONS: Final = ("MAKE_CALL", "SAY", "PLAY_FILE", "HANGUP", "SAY_AND_CAPTURE", "PLAY_TTS")

# The three products whose pages document VSS (FACTS.md, 8x8-docs/), by the kit's short names.
# Programmable SIP also sends VSS but documents no payload of its own: it has no strict variant.
PRODUCTS: Final = ("messaging", "ivr", "masking")
PRODUCT_TITLES: Final = MappingProxyType(
    {"messaging": "Voice Messaging", "ivr": "IVR", "masking": "Number Masking"}
)
# Per product, what its page lists. IVR's leg status list has no ERROR, and neither IVR nor
# Number Masking lists the opt-out statuses. Number Masking's leg list has no ERROR either,
# but its own status table and failure example put ERROR on legs, so ERROR stays.
PRODUCT_SESSION_STATUSES: Final = MappingProxyType(
    {"messaging": SESSION_STATUSES, "ivr": LEG_STATUSES, "masking": LEG_STATUSES}
)
PRODUCT_LEG_STATUSES: Final = MappingProxyType(
    {
        "messaging": LEG_STATUSES,
        "ivr": tuple(s for s in LEG_STATUSES if s != "ERROR"),
        "masking": LEG_STATUSES,
    }
)
# Voice Messaging and Number Masking say "always PSTN"; IVR says PSTN or VOIP.
PRODUCT_CALL_TYPES: Final = MappingProxyType(
    {"messaging": ("PSTN",), "ivr": CALL_TYPES, "masking": ("PSTN",)}
)
# The values each page shows (all three say "e.g." or link the actions: the set stays open).
PRODUCT_LAST_ACTIONS: Final = MappingProxyType(
    {
        "messaging": ("MAKE_CALL", "SAY", "PLAY_FILE"),
        "ivr": ("MAKE_CALL", "HANGUP", "SAY_AND_CAPTURE"),
        "masking": ("MAKE_CALL", "SAY", "PLAY_TTS"),
    }
)
# Scenario files written before the short names keep working.
PRODUCT_ALIASES: Final = MappingProxyType(
    {"voice-messaging": "messaging", "number-masking": "masking", "programmable-sip": "sip"}
)

ERROR_CODES: Final = MappingProxyType(
    {
        -2001: "An internal error has occurred",
        -2002: "An internal connectivity error has occurred",
        -2003: "The call flow provided is invalid",
        -2004: "No coverage available for requested area",
        -2005: "Unable to synthesize text to speech",
        -2006: "Unable to download file for playback",
        -2007: "The validity period of the call flow request has expired",
        -2008: "The provided source MSISDN or caller ID is not whitelisted",
        -2009: "The scenario parameters provided is invalid",
        -2010: "The trunk capacity has been exceeded",
        -9999: "An unknown error has occurred",
    }
)

# The documentation's MOS table: band name -> [low, high) (the top band includes 5.0).
MOS_BANDS: Final = MappingProxyType(
    {
        "excellent": (4.3, 5.0),
        "good": (4.0, 4.3),
        "fair": (3.6, 4.0),
        "poor": (3.1, 3.6),
        "bad": (1.0, 3.1),
    }
)


def leg_key(index: int) -> str:
    """callA, callB, … for index 0, 1, …"""
    return "call" + chr(ord("A") + index)


def session_status_agrees(
    session_status: str, leg_statuses: Sequence[str], *, product: str | None = None
) -> bool:
    """Whether a session status is consistent with its legs' statuses, in leg order.

    Generalises Number Masking's table in FACTS.md to any number of legs: the last leg decides
    the outcome (earlier legs may be failed attempts, e.g. an agent who did not answer before
    the next one did), and a COMPLETED session needs its first and last legs COMPLETED.
    UNSUBSCRIBED_CONTACT places no call at all (the contact is already blacklisted), so it has
    no legs; the other two opt-out statuses follow an answered call (the callee pressed the
    opt-out key), so every leg is COMPLETED.

    IVR's page lists ERROR as a session status (with errorDetails) but not as a leg status, so
    an IVR session can end in ERROR without any ERROR leg: the call flow failed (e.g. -2003, an
    invalid call flow), not a call. That is allowed for `product` "ivr" and for None (any of
    the products); Voice Messaging and Number Masking still need an ERROR last leg.
    """
    if (
        session_status == "ERROR"
        and product in (None, "ivr")
        and leg_statuses
        and "ERROR" not in leg_statuses
    ):
        return True
    if session_status == "UNSUBSCRIBED_CONTACT":
        return len(leg_statuses) == 0
    if not leg_statuses:
        return False
    if session_status in ("COMPLETED_UNSUBSCRIBED", "COMPLETED_UNSUB_ERROR"):
        return all(s == "COMPLETED" for s in leg_statuses)
    if session_status == "COMPLETED":
        return leg_statuses[0] == "COMPLETED" and leg_statuses[-1] == "COMPLETED"
    if session_status in LEG_STATUSES:
        return leg_statuses[-1] == session_status
    return False
