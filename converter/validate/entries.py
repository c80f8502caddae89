"""The checks of instance entries that look beyond one value: palette colour tables as
OHIF 3.13.2 reads them (PS3.3 C.7.6.3.1.5), a multi-frame image's entries (one per
frame, ``frame=1..N``, PS3.3 C.7.6.6 NumberOfFrames) and an entry's ``dicomweb:`` url.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from converter.launch.model import SEGMENTATION_SOP_CLASSES, WHOLE_MULTIFRAME_SOP_CLASSES
from converter.mapping.palette import instance_problem, throws_in_ohif
from converter.validate.problem import Problem, json_type


@dataclass(frozen=True)
class FrameEntry:
    """One entry of an SOP instance: its frame parameter (0: invalid) and NumberOfFrames."""

    frame: int | None
    path: str
    number_of_frames: Any
    sop_class: Any
    wado_rs: bool = False
    """A ``wadors:`` frame URL (``.../frames/N``) rather than a ``frame=N`` parameter."""


def instance_where(md: Mapping[str, Any], parents: Mapping[str, str | None]) -> str:
    """An instance named by its SOP, series and study UIDs, for a problem's message."""
    return (
        f"instance {md.get('SOPInstanceUID')} of series {parents.get('SeriesInstanceUID')} "
        f"in study {parents.get('StudyInstanceUID')}"
    )


def palette_problems(
    md: Mapping[str, Any], path: str, parents: Mapping[str, str | None]
) -> Iterator[Problem]:
    """A palette OHIF cannot use (:mod:`converter.mapping.palette`): where it throws, every study
    of the file is blanked by its error boundary; otherwise this image is not shown."""
    problem = instance_problem(md)
    if problem is None:
        return
    where = instance_where(md, parents)
    effect = (
        "OHIF 3.13.2's metadata provider throws on it (reported to blank every study of the file)"
        if throws_in_ohif(md)
        else "OHIF cannot show this image"
    )
    yield Problem(
        path,
        f"{where}: {problem}; {effect}. Make the file again with this "
        "version's snapshot or folder, which put the tables inline",
    )


def multiframe_problems(sop: str, entries: list[FrameEntry]) -> Iterator[Problem]:
    """The entries of one SOP instance, as OHIF 3.13's ``dicomjson`` source reads them.

    OHIF keeps the first entry of each instance and makes ``NumberOfFrames``
    images of it, taking the url of the i-th entry as frame i; the cornerstone
    loader's ``frame`` parameter is one-based (docs/format.md, "What the viewer was
    measured to do").
    """
    first = entries[0]
    count = first.number_of_frames
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    numbers = [e.frame for e in entries if e.frame != 0]  # 0 is reported with its url
    if first.sop_class in WHOLE_MULTIFRAME_SOP_CLASSES:
        if (
            first.sop_class in SEGMENTATION_SOP_CLASSES
            and len(entries) == 1
            and first.wado_rs
            and first.frame == 1
        ):
            return  # OHIF's SEG loader derives frames 2..N from the URL of frame 1
        for e in entries:
            if e.frame is not None:
                yield Problem(
                    f"{e.path}.url",
                    "a segmentation or dose object is read whole: no frame parameter",
                )
        return
    single = count is None or count == 1
    if len(entries) == 1 and first.frame == 1 and single:
        return  # one frame named as frame 1 (a WADO-RS frame URL of a single-frame image)
    if all(n is None for n in numbers):
        if count is not None and count > 1 and len(entries) == 1:
            yield Problem(
                f"{first.path}.metadata.NumberOfFrames",
                f"{count} frames in one "
                "entry without a frame parameter: OHIF shows frame 1 again and "
                f"again; give one entry per frame with frame=1..{count}",
            )
        return
    for e in entries:
        if e.frame is None:
            yield Problem(
                f"{e.path}.url", f"no frame parameter, while other entries of {sop} have one"
            )
    got = [n for n in numbers if n is not None]
    if got != list(range(1, len(got) + 1)):
        shown = ", ".join(map(str, got[:12])) + (", ..." if len(got) > 12 else "")
        yield Problem(
            first.path,
            f"frames of {sop} in document order are {shown}: OHIF "
            f"takes the i-th entry as frame i, so they must be 1..{len(got)}",
        )
    where = f"{first.path}.metadata.NumberOfFrames"
    if count is None:
        yield Problem(
            where,
            f"missing in the first entry of {sop}: OHIF keeps that entry and shows frame 1 only",
        )
    elif count != len(entries):
        yield Problem(where, f"says {count} frames, but {sop} has {len(entries)} entries")


FRAMES_PATH = re.compile(r"/instances/[^/]+/frames/([^/]*)$")
"""The frame of a WADO-RS frame URL (PS3.18 10.4.1.1.3): ``.../instances/<o>/frames/<N>``."""


def url_problem(url: Any, path: str) -> tuple[int | None, list[Problem]]:
    """The entry's frame number (None without one) and the url's problems.

    ``dicomweb:`` URLs name a whole object, their frame is a ``frame=N`` parameter;
    ``wadors:`` URLs name one frame of a WADO-RS frame retrieve, ``.../frames/N``
    (docs/format.md, "Instance URLs").
    """
    if url is None:
        return None, [Problem(path, "missing")]
    if not isinstance(url, str):
        return None, [Problem(path, f"expected a string, got {json_type(url)}")]
    scheme = next((s for s in ("dicomweb:", "wadors:") if url.startswith(s)), None)
    if scheme is None:
        return None, [
            Problem(
                path,
                f"{url[:80]!r} does not start with 'dicomweb:' "
                "(the scheme OHIF's loader reads whole Part 10 objects with) "
                "or 'wadors:' (WADO-RS frames)",
            )
        ]
    target = url.removeprefix(scheme)
    problems = []
    parts = urlsplit(target)
    if parts.scheme and parts.scheme not in ("http", "https"):
        problems.append(
            Problem(
                path, f"scheme {parts.scheme!r}: a viewer fetches only http(s) or relative URLs"
            )
        )
    elif parts.scheme and not parts.netloc:
        problems.append(Problem(path, "no host after the http(s) scheme"))
    elif not target:
        problems.append(Problem(path, f"no URL after {scheme!r}"))
    if parts.username or parts.password:
        problems.append(Problem(path, "holds credentials, readable by every viewer"))
    if any(c.isspace() for c in target):
        problems.append(Problem(path, "holds unencoded whitespace"))
    if scheme == "wadors:":
        found = FRAMES_PATH.search(parts.path)
        if found is None:
            problems.append(
                Problem(path, "a wadors: URL names one frame: .../instances/<uid>/frames/<n>")
            )
            return None, problems
        frames = [found.group(1)]
    else:
        frames = parse_qs(parts.query, keep_blank_values=True).get("frame") or []
        if not frames:
            return None, problems
    if len(frames) > 1:
        problems.append(Problem(path, "more than one frame parameter"))
    if not frames[0].isdigit() or int(frames[0]) < 1:
        problems.append(
            Problem(path, f"frame={frames[0]}: frame numbers are one-based (frame=0 does not load)")
        )
        return 0, problems
    return int(frames[0]), problems
