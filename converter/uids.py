"""Which UIDs are kept, and how they go into file names and URLs: the one place that says so.

A Study, Series or SOP Instance UID from a server or a file ends up in three
places: a file name (``<StudyInstanceUID>.json``), a request path
(``/studies/<uid>/series/<uid>/metadata``, PS3.18 10.4.1) and a query
(``studyUID=<uid>`` of WADO-URI, PS3.18 9.1; ``StudyInstanceUIDs=`` of a viewer
link). Two questions are asked of it, and they are kept apart:

* **Is it conformant?** PS3.5 9.1 says a UID is dot-separated components of
  digits, with no leading zero in a component of more than one digit, at most
  64 characters (:func:`is_conformant_uid`). Real archives hold UIDs that are
  not: de-identification tools write 64-digit hex hashes, old devices wrote
  leading zeros or letters, some write longer ones. Orthanc stores and serves
  them and OHIF shows them, so a study with such UIDs is *kept*, with one
  warning naming it (:func:`nonconformant_note`) -- losing a study the live
  viewer shows would be worse than carrying its odd UID.
* **Is it safe?** (:func:`is_safe_uid`). Only a UID that could escape a file
  name, a request path or a query -- ``/``, ``\\``, ``..``, control characters,
  whitespace, ``%``, ``?``, ``#``, ``&``, non-ASCII -- makes a study be
  skipped. The safe set is a whitelist, so nothing unforeseen gets through.

Whatever is kept is still percent-encoded (RFC 3986 2.1) wherever it goes into a
URL (:func:`quote_uid`); for a conformant UID that changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

CONFORMANT_MAX = 64
"""PS3.5 9.1: "The total length of a UID shall not exceed 64 characters"."""

SAFE_MAX = 128
"""The longest UID kept. ``<uid>.json.gz`` and the temporary name it is written
under (``.<uid>.json.gz.<host>-<pid>.<random>.part``, about 90 characters more)
stay under the 255 bytes a file name may have on common file systems."""

UNSAFE = "not safe in a file name, a request path or a query"
"""How a refused UID is described in messages (tests match on it)."""

RULE = (
    f"letters, digits, '.', '-' and '_', at most {SAFE_MAX} characters, starting with "
    "a letter or digit, no '..'"
)
"""The safe set in words, for usage errors."""

_CONFORMANT = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
# ASCII only ([0-9] and [A-Za-z], never \w or \d, which match other scripts' digits
# and letters); the first character is no '.', so no hidden file and no '.'/'..',
# and no '-', so a file name never reads as an option to a shell command.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The stems of the index files a study folder holds next to the study files
# (converter.output.store): a study with such a UID would overwrite the index. Matched
# case-insensitively, for case-insensitive file systems.
_RESERVED = re.compile(r"index(-[0-9]+-of-[0-9]+)?", re.IGNORECASE)

IDENTITY = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
"""The UIDs that go into file names and URLs, and so are judged here."""


def is_conformant_uid(uid: str) -> bool:
    """PS3.5 9.1: components of digits, no leading zero (unless the component is
    ``0``), separated by single dots, at most 64 characters.

    ``fullmatch``, not ``match`` with ``$``: ``$`` would let ``"1.2\\n"`` through.
    """
    return len(uid) <= CONFORMANT_MAX and _CONFORMANT.fullmatch(uid) is not None


def is_safe_uid(uid: str) -> bool:
    """Whether ``uid`` may go, as it is, into a file name, a request path and a query.

    The whitelist: ASCII letters, digits, ``.``, ``-`` and ``_``; 1 to
    :data:`SAFE_MAX` characters; first a letter or digit; no ``..``; not the
    stem of an index file. Every conformant UID (PS3.5 9.1) is safe; so are hex
    hashes, UUIDs, leading zeros and letters. Path separators, ``..``, control
    characters, whitespace, ``%``, ``?``, ``#``, ``&``, ``=``, ``+``, ``;``,
    quotes, brackets and non-ASCII are not.
    """
    return (
        isinstance(uid, str)
        and 0 < len(uid) <= SAFE_MAX
        and _SAFE.fullmatch(uid) is not None
        and ".." not in uid
        and _RESERVED.fullmatch(uid) is None
    )


def quote_uid(uid: str) -> str:
    """``uid`` percent-encoded for a path segment or a query value (RFC 3986 2.1).

    Nothing is left unencoded but the unreserved characters, so a UID can never
    add a ``/``, ``?``, ``&`` or ``#`` to a URL; digits, letters, ``.``, ``-``
    and ``_`` are unchanged, so a conformant UID reads as it is.
    """
    return quote(uid, safe="")


def shown(value: Any) -> str:
    """A UID as a message shows it: as it is when safe, else quoted and cut.

    A hostile one with a newline or markup must not break a line of a log or
    forge another one.
    """
    if isinstance(value, str) and is_safe_uid(value):
        return value
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def nonconformant_note(study_uid: str, groups: Iterable[Sequence[Mapping[str, Any]]]) -> str | None:
    """The one warning for a study whose UIDs are kept although not PS3.5 9.1-conformant.

    ``groups`` are the mapped instances of each series. The warning names the
    study and the first series and instance with such a UID (with counts), or
    None when every identity UID conforms.
    """
    series: dict[str, None] = {}
    instances: dict[str, None] = {}
    for group in groups:
        for metadata in group:
            series_uid = metadata.get("SeriesInstanceUID")
            if isinstance(series_uid, str) and not is_conformant_uid(series_uid):
                series[series_uid] = None
            sop = metadata.get("SOPInstanceUID")
            if isinstance(sop, str) and not is_conformant_uid(sop):
                instances[sop] = None
    parts = [] if is_conformant_uid(study_uid) else ["the study's own"]
    for what, found in (("series", series), ("instance", instances)):
        if found:
            first = next(iter(found))
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            parts.append(f"{what} {shown(first)}{more}")
    if not parts:
        return None
    return (
        f"study {shown(study_uid)}: UIDs not conformant to PS3.5 9.1 (digits and dots, "
        f"no leading zeros, at most {CONFORMANT_MAX} characters): {', '.join(parts)}; "
        "kept as they are (safe in file names and URLs), though other DICOM tools may "
        "refuse them"
    )
