"""The baselines of benchmarks/migration.py, each run as its own whole process.

    python -m benchmarks.contenders floor ROOT PATHS.json WORKERS ACCEPT-ENCODING
    python -m benchmarks.contenders naive ROOT
    python -m benchmarks.contenders qido ROOT PAGE-SIZE QUERY

Kept apart from the benchmark driver so that each imports only what it uses:
the floor pays for ``requests`` alone, as a fair measure of the server's speed.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests


def floor(root: str, paths: list[str], workers: int, encoding: str) -> None:
    """(a) GET every WADO-RS metadata path (of series, or of studies), bytes only,
    one session per worker.

    Asks for the encoding snapshot asks for (none on loopback: compressing costs
    the server CPU it shares with the client), so the floor is the server's best.
    """
    local = threading.local()

    def get(path: str) -> int:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        answer = session.get(
            root + path,
            headers={
                "Accept": "application/dicom+json, application/json",
                "Accept-Encoding": encoding,
            },
            timeout=120,
        )
        answer.raise_for_status()
        return len(answer.content)

    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(get, paths))
    if total <= 0:
        raise SystemExit("no metadata")


def naive(root: str) -> None:
    """(b) dicomweb-client study metadata + pydicom ``Dataset.from_json``, one study at a time."""
    import warnings

    import pydicom
    from dicomweb_client.api import DICOMwebClient

    warnings.filterwarnings("ignore", message="No bulk data URI handler")
    client = DICOMwebClient(root)
    for study in client.search_for_studies():
        uid = study["0020000D"]["Value"][0]
        for item in client.retrieve_study_metadata(uid):
            pydicom.Dataset.from_json(item)


def qido(root: str, page_size: int, query: str) -> None:
    """(q) the paged QIDO-RS study search alone (PS3.18 10.6, ``limit``/``offset``), with
    the matching keys and ``includefield`` query a snapshot's plan asks: the floor of a
    re-run, which has to look at every study's instance count."""
    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"
    offset, count = 0, 0
    while True:
        answer = session.get(
            f"{root}/studies?{query}&limit={page_size}&offset={offset}",
            headers={"Accept": "application/dicom+json, application/json"},
            timeout=120,
        )
        answer.raise_for_status()
        page = answer.json() if answer.content else []
        count += len(page)
        if len(page) < page_size:
            break
        offset += len(page)
    if count <= 0:
        raise SystemExit("no studies")


def main(argv: list[str]) -> int:
    if argv[:1] == ["floor"] and len(argv) == 5:
        floor(argv[1], json.loads(Path(argv[2]).read_text()), int(argv[3]), argv[4])
        return 0
    if argv[:1] == ["qido"] and len(argv) == 4:
        qido(argv[1], int(argv[2]), argv[3])
        return 0
    if argv[:1] == ["naive"] and len(argv) == 2:
        naive(argv[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
