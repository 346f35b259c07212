"""Phone numbers valid for their country: curated numbering templates, checked once, drawn fast."""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Final

import phonenumbers

# Where the far party of a call is (the callee of an OUTBOUND leg, the caller of an INBOUND
# leg), weighted like a CPaaS voice platform whose traffic is centred on Asia-Pacific (8x8's
# voice webhooks are sent from Singapore) with a large North American and European share.
PARTY_COUNTRY_WEIGHTS: Final = MappingProxyType(
    {
        "US": 20, "GB": 9, "SG": 10, "AU": 6, "IN": 8, "DE": 4, "FR": 3, "PH": 7, "JP": 4,
        "HK": 4, "MY": 5, "ID": 5, "CA": 3, "NZ": 2, "NL": 2, "ES": 2, "IT": 2, "BR": 2,
        "MX": 2, "AE": 2, "TH": 2, "VN": 2, "KR": 1, "ZA": 1, "IE": 1,
    }
)  # fmt: skip

# Where the account's 8x8 virtual numbers (caller IDs of OUTBOUND legs, dialled numbers of
# INBOUND legs) are: fewer countries, the ones 8x8 sells virtual numbers in most.
VIRTUAL_COUNTRY_WEIGHTS: Final = MappingProxyType(
    {
        "US": 28, "SG": 16, "GB": 12, "AU": 8, "PH": 6, "HK": 5, "MY": 5, "IN": 4,
        "ID": 4, "JP": 4, "DE": 3, "FR": 2, "CA": 3,
    }
)  # fmt: skip

MOBILE: Final = 0
FIXED: Final = 1

# (E.164 prefix, number of random trailing digits) per country, [mobile, fixed line].
# Curated rather than read from libphonenumber's example numbers so the bytes a seed gives do
# not change with the phonenumbers release; every template is still checked against
# libphonenumber on first use (and sampled hard by tests/test_generator.py).
_TEMPLATES: Final[dict[str, tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]]] = {
    "US": (
        (("+1212736", 4), ("+1415392", 4), ("+1646783", 4), ("+1305421", 4), ("+1206389", 4),
         ("+1512474", 4), ("+1404659", 4), ("+1617262", 4), ("+1702380", 4), ("+1469312", 4)),
        (("+1212736", 4), ("+1312853", 4), ("+1213627", 4), ("+1617262", 4), ("+1404659", 4)),
    ),
    "CA": (
        (("+1416597", 4), ("+1604688", 4), ("+1514842", 4), ("+1403265", 4)),
        (("+1416597", 4), ("+1613749", 4), ("+1604688", 4)),
    ),
    "GB": (
        (("+447400", 6), ("+447507", 6), ("+447824", 6), ("+447956", 6), ("+4479112", 5)),
        (("+44203", 7), ("+44207", 7), ("+44161", 7), ("+441314", 6)),
    ),
    "SG": (
        (("+65812", 5), ("+65913", 5), ("+65968", 5), ("+65873", 5)),
        (("+65631", 5), ("+65682", 5), ("+65653", 5)),
    ),
    "AU": (
        (("+61412", 6), ("+61423", 6), ("+61438", 6), ("+61401", 6)),
        (("+6129", 7), ("+6138", 7), ("+6173", 7)),
    ),
    "IN": (
        (("+9198", 8), ("+9197", 8), ("+9188", 8), ("+9170", 8)),
        (("+91114", 7), ("+91224", 7), ("+9180", 8)),
    ),
    "DE": (
        (("+49151", 8), ("+49160", 7), ("+49170", 7), ("+49176", 8)),
        (("+4930", 8), ("+4989", 8), ("+4940", 8)),
    ),
    "FR": (
        (("+3361", 7), ("+3366", 7), ("+3367", 7), ("+3377", 7)),
        (("+331", 8), ("+3342", 7), ("+3347", 7)),
    ),
    "PH": (
        (("+63917", 7), ("+63918", 7), ("+63927", 7), ("+63905", 7)),
        (("+6328", 7),),
    ),
    "JP": (
        (("+81901", 7), ("+81906", 7), ("+8180", 8), ("+81703", 7)),
        (("+8135", 7), ("+8133", 7), ("+816", 8)),
    ),
    "HK": (
        (("+85294", 6), ("+85296", 6), ("+85261", 6), ("+85265", 6)),
        (("+85221", 6), ("+85225", 6), ("+85228", 6)),
    ),
    "MY": (
        (("+6012", 7), ("+6016", 7), ("+6019", 7)),
        (("+6038", 7),),
    ),
    "ID": (
        (("+62812", 8), ("+62813", 8), ("+62857", 8)),
        (("+6221", 8),),
    ),
    "NZ": (
        (("+6421", 7), ("+6422", 7)),
        (("+6493", 6), ("+6494", 6), ("+6443", 6)),
    ),
    "NL": (
        (("+3161", 7), ("+3162", 7), ("+3165", 7)),
        (("+3120", 7),),
    ),
    "ES": (
        (("+346", 8),),
        (("+3491", 7), ("+3493", 7)),
    ),
    "IT": (
        (("+3933", 8), ("+3934", 8), ("+3938", 8)),
        # Rome as 06 5xxxxxxx: the 06 698 range under +39 is Vatican City's (libphonenumber
        # says VA), so "+3906" with any 8 digits drew a VA number about once in a thousand.
        (("+3902", 8), ("+39065", 7)),
    ),
    "BR": (
        (("+55119", 8), ("+55219", 8)),
        (("+55113", 7), ("+55213", 7)),
    ),
    "MX": (
        (("+5255", 8), ("+5233", 8)),
        (("+5255", 8), ("+5233", 8)),
    ),
    "AE": (
        (("+97150", 7), ("+97155", 7)),
        (("+97143", 6), ("+97144", 6), ("+97126", 6)),
    ),
    "TH": (
        (("+668", 8), ("+669", 8)),
        (("+662", 7),),
    ),
    "VN": (
        (("+8490", 7), ("+8491", 7), ("+8498", 7)),
        (("+84243", 7), ("+84283", 7)),
    ),
    "KR": (
        (("+82102", 7), ("+82103", 7), ("+82108", 7)),
        (("+8222", 7), ("+8225", 7)),
    ),
    "ZA": (
        (("+2782", 7), ("+2783", 7)),
        (("+2721", 7), ("+2711", 7)),
    ),
    "IE": (
        (("+35385", 7), ("+35387", 7)),
        (("+3531", 7),),
    ),
}  # fmt: skip

COUNTRIES: Final = tuple(sorted(_TEMPLATES))

# One drawable template: "%"-format string with the prefix, and 10**digits.
Template = tuple[str, int]


def _holds(prefix: str, digits: int, country: str) -> bool:
    # Corners plus a fixed sample: cheap enough to run at first use, and any template that a
    # later libphonenumber release rejects is dropped rather than producing invalid numbers.
    sample = random.Random(prefix)
    suffixes = ["0" * digits, "9" * digits] + [
        str(sample.randrange(10**digits)).zfill(digits) for _ in range(6)
    ]
    for suffix in suffixes:
        parsed = phonenumbers.parse(prefix + suffix, None)
        if not phonenumbers.is_valid_number_for_region(parsed, country):
            return False
    return True


@cache
def number_templates() -> Mapping[str, tuple[tuple[Template, ...], tuple[Template, ...]]]:
    """Per country, the usable [mobile, fixed-line] templates (checked once per process)."""
    table: dict[str, tuple[tuple[Template, ...], tuple[Template, ...]]] = {}
    for country, kinds in _TEMPLATES.items():
        usable = tuple(
            tuple((f"{p}%0{d}d", 10**d) for p, d in kind if _holds(p, d, country)) for kind in kinds
        )
        mobile, fixed = usable
        # A country always needs both kinds; if one kind lost every template, the other
        # (valid) kind stands in rather than the country disappearing from the spread.
        table[country] = (mobile or fixed, fixed or mobile)
        if not (mobile or fixed):
            raise RuntimeError(f"no valid numbering template left for {country}")
    return MappingProxyType(table)


def draw_number(rng: random.Random, templates: tuple[Template, ...]) -> str:
    """A random number from one of `templates` (one country, one kind).

    The generator draws the same numbers inline on its hot path (generator._virtual_number, the
    session's virtual number and the far party's number in _SessionPlan.build): change them
    together, or a seed's bytes change.
    """
    fmt, span = templates[int(rng.random() * len(templates))]
    return fmt % int(rng.random() * span)
