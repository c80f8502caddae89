"""Paging a QIDO-RS study search (PS3.18 8.3.4.4 ``limit``/``offset``) the ways servers
differ on it.

* A page size above the server's cap: Azure's DICOM service answers 400 Bad Request to a
  ``limit`` above 200 (its conformance statement: "If the requested query response limit
  is outside of the acceptable range, a bad request is returned"), Google Cloud
  Healthcare's cap is 5,000. The first page is asked again with smaller sizes in turn
  (:data:`PAGE_SIZES`) and the first one taken is kept for the run.
* An ``offset`` above the server's cap (Google: 1,000,000) gets 400 once a page size has
  been taken: the listing cannot go on, and the caller is told where it stopped.
* A capped answer (dcm4chee-arc's "QIDO Max Number of Results"): fewer results than
  asked, with a ``Warning`` header saying that there are additional results; paging goes
  on instead of taking the short page for the last one.
* An empty page is an empty body or ``204 No Content`` (Azure, an offset past the end):
  see :meth:`~converter.source.client.DicomWebSource._datasets`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from converter.errors import ServerError
from converter.mapping.ps3_18 import first_value

PAGE_SIZES = (5000, 1000, 200, 100, 10)
"""Page sizes tried in turn, below the refused one: Google's documented cap, 1,000,
Azure's documented cap, 100, 10."""


MORE_RESULTS = re.compile(r"additional results", re.IGNORECASE)
"""A ``Warning`` saying the answer was capped (dcm4chee-arc: "There are N additional
results that can be requested")."""


Search = Callable[[int], list[dict[str, Any]]]
"""One page of the search at the current offset, given the page size."""


def first_page(
    search: Search, page_size: int, warn: Callable[[str], None] | None, where: str
) -> tuple[list[dict[str, Any]], int]:
    """The first page and the page size the server takes.

    A 400 to the asked size is answered by asking the smaller sizes of
    :data:`PAGE_SIZES` in turn; the first one taken is said in one warning. A 400
    to every size (the query itself is refused) raises the first error.
    """
    try:
        return search(page_size), page_size
    except ServerError as exc:
        if exc.status != 400:
            raise
        refused = exc
    for smaller in (size for size in PAGE_SIZES if size < page_size):
        try:
            page = search(smaller)
        except ServerError as again:
            if again.status == 400:
                continue
            raise
        if warn is not None:
            warn(
                f"{where} refused limit={page_size} (HTTP 400: {refused.body or 'no detail'}); "
                f"asking {smaller} studies at a time"
            )
        return page, smaller
    raise refused


def next_page(
    search: Callable[[int, int], list[dict[str, Any]]],
    page_size: int,
    offset: int,
    warn: Callable[[str], None] | None,
    where: str,
) -> list[dict[str, Any]] | None:
    """A later page, or None when the server refuses its offset (a 400 now is about the
    offset: the page size was taken), which ``warn`` is told in one line."""
    try:
        return search(page_size, offset)
    except ServerError as exc:
        if exc.status != 400:
            raise
        if warn is not None:
            warn(
                f"{where} refused offset={offset} (HTTP 400: {exc.body or 'no detail'}); the "
                f"study list stops at {offset} studies: select the others with filters "
                "(a study date range, a modality) in further runs"
            )
        return None


def capped_on(
    fetch: Callable[[int], list[dict[str, Any]]], more: Callable[[], bool], uid_tag: str
) -> list[dict[str, Any]]:
    """Every record of a search asked without ``limit``: while an answer says it was
    capped (``more``), ask again from the next ``offset``; stop at a page with nothing new."""
    records = fetch(0)
    while records and more():
        known = {first_value(r, uid_tag) for r in records}
        fresh = [r for r in fetch(len(records)) if first_value(r, uid_tag) not in known]
        if not fresh:
            break
        records += fresh
    return records


def iter_studies(
    search: Callable[[int, int], list[dict[str, Any]]],
    more: Callable[[], bool],
    warn: Callable[[str], None] | None,
    where: str,
    *,
    page_size: int,
    max_studies: int | None = None,
    repeated: set[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every study of a search (``search(limit, offset)`` one page) once.

    Stops when a page is empty, or short without a ``Warning`` announcing more
    (``more()``, asked right after each page). A server that ignores ``offset``
    sends the same page again: that is detected, warned about, and ends the
    paging instead of looping forever. The UIDs of other records that come
    again (Orthanc lists a study twice when it splits it) go into ``repeated``.
    """
    offset = 0
    seen: set[str] = set()
    yielded = 0
    page, page_size = first_page(lambda limit: search(limit, 0), page_size, warn, where)
    while True:
        announced = more()
        uids = [first_value(r, "0020000D") for r in page]
        fresh = [r for r, uid in zip(page, uids, strict=True) if uid not in seen]
        if page and not fresh:
            if warn is not None:
                warn(
                    f"{where} ignored offset={offset} (the same studies "
                    "came back); paging stopped: some studies may be missing"
                )
            return
        for record, uid in zip(page, uids, strict=True):
            if uid in seen:
                if repeated is not None:
                    repeated.add(str(uid))
                continue
            seen.add(str(uid))
            yield record
            yielded += 1
            if max_studies is not None and yielded >= max_studies:
                return
        if not page or (len(page) < page_size and not announced):
            return
        offset += len(page)
        after = next_page(search, page_size, offset, warn, where)
        if after is None:  # the server refused the offset (said in a warning)
            return
        page = after
