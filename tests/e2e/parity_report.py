"""Comparing what the two sources showed, series by series, and the parity table.

Per series of a study that the server lists, :func:`compare` gives one :class:`Row`:

``both``
    both sources showed every display set of the series and their judged
    images (SOP Instance UID, frame, pixel statistics, in stack order), SR
    measurements, segments or document agree;
``both, stats differ``
    both showed it, but something judged differs (a failure of its own);
``ours only`` / ``live only`` / ``neither``
    which source showed it; the reason says what the other did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.parity import LIVE, OURS, SetResult, StudyView

BOTH = "both"
DIFFER = "both, stats differ"
OURS_ONLY = "ours only"
LIVE_ONLY = "live only"
NEITHER = "neither"
OUTCOMES = (BOTH, DIFFER, OURS_ONLY, LIVE_ONLY, NEITHER)


@dataclass(frozen=True)
class Row:
    """The parity outcome of one series."""

    corpus: str
    study: str
    series: str
    modality: str
    kinds: str
    outcome: str
    reason: str


def _why_not(sets: list[SetResult], view: StudyView) -> str:
    """Why a source did not show a series, from what the page said."""
    if not sets:
        why = "no display set"
        if view.errors:
            why += f" ({view.errors[0][:100]})"
        return "; ".join([why, *_first_error(view)])[:300]
    parts = []
    for s in sets:
        if s.shown:
            continue
        if s.note:
            parts.append(s.note)
        elif s.failed:
            parts.append(f"{len(s.failed)} image(s) failed to load: {s.failed[0][:160]}")
        else:
            parts.append(f"{s.kind} not shown")
    if view.boundary:
        parts.append("error boundary")
    return "; ".join(parts + _first_error(view))[:300]


def _first_error(view: StudyView) -> list[str]:
    """The first error the page logged (console or uncaught), which the boundary hides."""
    logged = [e for e in view.errors if not e.startswith(("error boundary", "no display set"))]
    return [f"page said: {logged[0].splitlines()[0][:200]}"] if logged else []


def _shown(sets: list[SetResult], cold: Any, warm: Any) -> bool:
    return (
        bool(sets) and all(s.shown for s in sets) and (cold is None or warm is None or cold == warm)
    )


def _warm(sets: list[SetResult], cold: Any) -> Any:
    """The warm load of the image that :func:`first_shown` gave (same SOP and frame),
    in its form; None when that image was not among those judged."""
    for s in sets:
        for image in s.images:
            if image is not None and image[1:3] == cold[:2]:
                return [image[1], image[2], *image[4:]]
    return None


def _differences(ours: list[SetResult], live: list[SetResult]) -> str:
    if len(ours) != len(live):
        return f"{len(ours)} display set(s) from ours, {len(live)} live"
    mine = sorted(ours, key=lambda s: repr(s.key()))
    theirs = sorted(live, key=lambda s: repr(s.key()))
    for so, sl in zip(mine, theirs, strict=True):
        if so.key() != sl.key():
            if so.kind != sl.kind:
                return f"kind {so.kind} vs {sl.kind}"
            if len(so.images) != len(sl.images):
                return f"{len(so.images)} vs {len(sl.images)} images judged"
            for io, il in zip(so.key()[1], sl.key()[1], strict=True):
                if io != il:
                    return f"image ours {io} vs live {il}"[:300]
            return f"detail ours {so.detail} vs live {sl.detail}"[:300]
    return ""


def compare(
    corpus: str, study: str, listed: dict[str, str], ours: StudyView, live: StudyView
) -> list[Row]:
    """One row per series the server lists (``listed``: series UID -> modality)."""
    assert ours.source == OURS and live.source == LIVE
    # Only the series the server holds: OHIF makes display sets of its own (the key
    # images of a loaded SR, as a KO set with a made-up series UID) on either source.
    series = dict(listed)
    rows = []
    for uid, modality in series.items():
        mine = [s for s in ours.sets if s.series == uid]
        theirs = [s for s in live.sets if s.series == uid]
        cold_o, cold_l = ours.cold_first.get(uid), live.cold_first.get(uid)
        warm_o = _warm(mine, cold_o) if cold_o else None
        warm_l = _warm(theirs, cold_l) if cold_l else None
        shown_o = _shown(mine, cold_o, warm_o)
        shown_l = _shown(theirs, cold_l, warm_l)
        kinds = ",".join(sorted({s.kind for s in mine + theirs})) or "-"
        if shown_o and shown_l:
            diff = _differences(mine, theirs)
            if (
                not diff
                and cold_o
                and cold_l
                and cold_o[2:] != cold_l[2:]
                and cold_o[:2] == cold_l[:2]
            ):
                diff = f"first frame on a fresh page: ours {cold_o} vs live {cold_l}"
            outcome, reason = (DIFFER, diff) if diff else (BOTH, "")
        elif shown_o:
            outcome, reason = OURS_ONLY, "live: " + _why_not(theirs, live)
        elif shown_l:
            outcome, reason = LIVE_ONLY, "ours: " + _why_not(mine, ours)
        else:
            outcome = NEITHER
            reason = f"ours: {_why_not(mine, ours)}; live: {_why_not(theirs, live)}"
        for cold, warm, name in ((cold_o, warm_o, "ours"), (cold_l, warm_l, "live")):
            if cold is not None and warm is not None and cold != warm:
                reason += (
                    f"; {name}: first frame on a fresh page {cold} is not the warm "
                    f"{warm} (cornerstone3D #1194)"
                )[:300]
        rows.append(Row(corpus, study, uid, modality, kinds, outcome, reason.strip("; ")))
    return rows


def counts(rows: list[Row]) -> dict[str, int]:
    return {outcome: sum(r.outcome == outcome for r in rows) for outcome in OUTCOMES}


def markdown(title: str, rows: list[Row], seconds: float) -> str:
    """The per-series table and the counts per corpus, as markdown."""
    corpora = list(dict.fromkeys(r.corpus for r in rows))
    out = [
        f"# {title}",
        "",
        f"Run time {seconds:.0f} s.",
        "",
        "| corpus | series | " + " | ".join(OUTCOMES) + " |",
        "|---|---|" + "---|" * len(OUTCOMES),
    ]
    for corpus in corpora:
        mine = [r for r in rows if r.corpus == corpus]
        c = counts(mine)
        out.append(f"| {corpus} | {len(mine)} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    out += [
        "",
        "| corpus | study | series | modality | judged as | outcome | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reason = r.reason.replace("|", "/").replace("\n", " ")
        out.append(
            f"| {r.corpus} | {r.study} | {r.series} | {r.modality} | {r.kinds} | "
            f"{r.outcome} | {reason} |"
        )
    return "\n".join(out) + "\n"
