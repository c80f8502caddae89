"""What the mapper knows of a tag (PS3.18 F.2: eight hex digits), cached: its keyword,
its VRs in the data dictionary (PS3.6), whether it is private (PS3.5 7.8) or bulk
pixel/waveform data that is dropped. Pure.
"""

from __future__ import annotations

import re
from typing import Any

from converter.mapping.keywords import describe_tag, dictionary_vrs
from converter.mapping.values import (
    ALL_VRS,
    BINARY_VRS,
)

# Bulk data that a launch file never carries: the viewer reads it from the
# Part 10 object behind the instance url (PS3.3 C.7.6.3, C.10.9, C.11.1).
PIXEL_AND_WAVEFORM_TAGS = frozenset(
    {
        "7FE00001",  # ExtendedOffsetTable
        "7FE00002",  # ExtendedOffsetTableLengths
        "7FE00008",  # FloatPixelData
        "7FE00009",  # DoubleFloatPixelData
        "7FE00010",  # PixelData
        "54001010",  # WaveformData
        "56000020",  # SpectroscopyData
    }
)


TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


AS_IS_VRS = ALL_VRS - BINARY_VRS - {"SQ", "PN", "DS", "IS"}
"""VRs whose PS3.18 values the fast path writes as they are. Binary VRs carry
no ``Value`` (PS3.18 F.2.7): they always take the slow path, which checks them."""


NUMBER_VRS = frozenset({"DS", "IS"})


TagInfo = tuple[
    str, str | None, bool, bool, frozenset[str] | None, frozenset[str], frozenset[str], bool
]


TAG_INFO: dict[str, TagInfo] = {}


def classify(tag: Any) -> TagInfo | None:
    """What the mapper needs to know of a tag, cached; None if it is not an 8-hex tag.

    (key, dictionary VR, private, dropped, VRs allowed, and of those the ones the
    fast path writes as they are, the DS/IS ones, whether SQ is one). The VRs
    allowed are the dictionary's (``US or SS``) plus UN, which a server sends for
    an element whose VR it does not know (PS3.5 6.2.2); None for private and
    unknown tags, whose VR cannot be checked.
    """
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        return None
    key, dict_vr, private = describe_tag(tag)
    upper = tag.upper()
    dropped = upper in PIXEL_AND_WAVEFORM_TAGS or (
        upper[:2] in ("50", "60") and upper[4:] == "3000"
    )
    known = None if private else dictionary_vrs(upper)
    allowed = known | {"UN"} if known is not None and known <= ALL_VRS else None
    ok = ALL_VRS if allowed is None else allowed
    info = (key, dict_vr, private, dropped, allowed, AS_IS_VRS & ok, NUMBER_VRS & ok, "SQ" in ok)
    TAG_INFO[tag] = info
    return info
