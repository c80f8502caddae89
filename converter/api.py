"""The public Python API: snapshot a DICOMweb server, map one dataset, read a folder,
validate a launch file. ``import converter`` gives these names (:mod:`converter`).

Thin functions over the subpackages, with keyword arguments named as the
command line's options are (``studies`` for ``--study``, ``gzip`` for ``--gzip``).
They print nothing and change nothing process-wide (no signal handlers, no
garbage-collector tuning, no warning filters): that is the CLI's part. Problems
that were worked around go to ``warn``; failures raise the typed exceptions of
:mod:`converter.errors`, or, for one study of many, are kept in
:attr:`SnapshotReport.failures` with their kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
import requests.auth

from converter.defaults import DEFAULT_TIMEOUT, DEFAULT_WORKERS
from converter.errors import UsageError, arg
from converter.folder.reader import read_folder as _read_folder
from converter.folder.result import FolderResult
from converter.launch.urls import choose_urls
from converter.mapping.mapper import Warn
from converter.output.choose import open_output, resolve_output
from converter.output.store import InMemory, Store
from converter.output.study_list import PUBLIC_VIEWER, check_viewer_base
from converter.snapshot.report import Events, SnapshotReport
from converter.snapshot.run import snapshot
from converter.snapshot.selection import Selection, Shard, plan
from converter.source.client import DicomWebSource
from converter.source.query import StudyFilter
from converter.source.session import Credentials, RetryPolicy
from converter.source.tokens import TokenFetch, TokenSource
from converter.validate.problem import Problem
from converter.validate.validator import validate


def open_server(
    url: str,
    *,
    session: requests.Session | None = None,
    token: str | None = None,
    token_provider: TokenSource | TokenFetch | None = None,
    auth: requests.auth.AuthBase | None = None,
    user: str | None = None,
    password: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    verify: bool | str = True,
    retry: RetryPolicy | None = None,
    warn: Warn | None = None,
) -> DicomWebSource:
    """A DICOMweb server to snapshot, e.g. ``http://localhost:8042/dicom-web``.

    Either your own ``session`` (auth, proxies, client certificates set on it) or
    the credentials here (HTTP basic, RFC 7617; bearer token, RFC 6750, fixed or from
    a ``token_provider`` asked again on a 401 and before a stated expiry, e.g.
    :func:`~converter.source.token_command.command_token`; a requests ``auth`` such as
    :class:`~converter.source.aws.AwsSigV4`; extra headers) and
    ``verify`` (a CA bundle path, or False). ``retry`` says how often and how long to
    ask again after a busy server's answer (429, 503, ...; default 5 attempts).
    Nothing is sent yet.
    """
    credentials = None
    if token is not None or user is not None or headers or token_provider or auth:
        credentials = Credentials(user, password, token, tuple(headers), token_provider, auth)
    return DicomWebSource(
        url,
        session=session,
        credentials=credentials,
        timeout=timeout,
        verify=verify,
        retry=retry,
        warn=warn,
    )


def snapshot_server(
    server: str | DicomWebSource,
    output: str | Path | None = None,
    *,
    studies: Iterable[str] = (),
    patient_id: str | None = None,
    study_date: str | None = None,
    modality: str | None = None,
    accession_number: str | None = None,
    limit: int | None = None,
    shard: Shard | str | None = None,
    url_template: str | None = None,
    document_url_template: str | None = None,
    wado_uri_root: str | None = None,
    image_urls: str = "auto",
    gzip: bool = False,
    force: bool = False,
    indent: int | None = None,
    viewer_base: str | None = PUBLIC_VIEWER,
    keep_private: bool = False,
    workers: int = DEFAULT_WORKERS,
    session: requests.Session | None = None,
    warn: Warn | None = None,
    events: Events | None = None,
) -> SnapshotReport:
    """Snapshot studies of a DICOMweb server into launch files, or into a document.

    Parameters
    ----------
    server:
        The DICOMweb root URL, or a server from :func:`open_server`.
    output:
        None: keep the launch file in memory as :attr:`SnapshotReport.document`.
        A path: one launch file; a path ending in ``/`` (or an existing folder),
        or an object-storage URL (``s3://bucket/prefix/``): one file per study and
        ``index.json``, resumable (studies up to date are skipped unless ``force``).
    studies:
        Study Instance UIDs to take; else the studies matching ``patient_id``,
        ``study_date`` (``YYYYMMDD`` or a range), ``modality`` and
        ``accession_number``; else every study. At most ``limit`` of them.
    shard:
        ``"K/N"`` or a :class:`Shard`: this run takes part K of N (folder output).
    url_template, document_url_template, wado_uri_root, image_urls:
        Where a viewer fetches each object: a template (``{study}``, ``{series}``,
        ``{instance}``), or the server's WADO-URI (PS3.18 9) at ``wado_uri_root`` or
        beside the root; else ``image_urls``: ``"wadouri"``, ``"wadors"`` (WADO-RS
        frame URLs, PS3.18 10.4, for servers without WADO-URI) or ``"auto"`` (the
        default: WADO-URI if the server answers it for one instance, else WADO-RS,
        warned).
    gzip, indent:
        ``.json.gz`` files in a folder; indented JSON.
    viewer_base:
        The OHIF Viewer that a folder's study list page (``index.html`` beside
        ``index.json``) opens studies in; None writes no page (nor does a shard).
    keep_private:
        Keep private (odd-group) elements under their tag.
    workers:
        Concurrent metadata requests.
    session:
        Your own :class:`requests.Session` when ``server`` is a URL.
    warn:
        Called with one sentence for each problem worked around.
    events:
        Told the plan and each study's outcome as the run goes (progress).

    Returns
    -------
    SnapshotReport
        Counts, bytes, seconds, one :class:`StudyFailure` per study that got no
        output (its ``error`` a ServerError, MappingError, UnsafeUidError, ...),
        and the ``document`` when ``output`` is None.

    Raises
    ------
    UsageError
        An argument is wrong (an unsafe study UID, ``gzip`` without a folder, ...).
    ServerError, NotFoundError
        The server cannot be reached, or a study asked for is not on it.
    OutputError
        The output cannot be written.
    """
    if isinstance(server, str):
        source = DicomWebSource(server, session=session, warn=warn)
    elif session is not None:
        raise UsageError(f"give {arg('session')} to open_server(), not with a server")
    else:
        source = server
    chosen = Shard.parse(shard) if isinstance(shard, str) else (shard or Shard())
    selection = Selection(
        tuple(studies),
        StudyFilter(patient_id, study_date, modality, accession_number),
        limit,
        chosen,
    )
    target = None if output is None else resolve_output(output, gzip=gzip, sharded=chosen.count > 1)
    page_viewer = check_viewer_base(viewer_base) if viewer_base and chosen.count == 1 else None
    urls = choose_urls(source.root, url_template, document_url_template, wado_uri_root, image_urls)
    planned = plan(source, selection)
    order = [s.uid for s in planned]
    store: Store
    memory: InMemory | None = None
    if target is None:
        store = memory = InMemory(order)
    else:
        store, _ = open_output(
            target,
            order,
            gzip=gzip,
            force=force,
            indent=indent,
            index_name=chosen.index_name,
            owns=chosen.owns,
            study_list=page_viewer,
            warn=warn,
        )
    report = snapshot(
        source,
        selection,
        urls,
        store,
        workers=workers,
        keep_private=keep_private,
        warn=warn,
        events=events,
        studies=planned,
    )
    if memory is not None:
        report.document = memory.document()
    return report


def read_folder(
    folder: str | Path,
    url_prefix: str = "",
    *,
    keep_private: bool = False,
    inline_documents: bool = True,
    jobs: int = 1,
) -> FolderResult:
    """Read every DICOM Part 10 file under ``folder`` into studies (headers only).

    Each instance's url is ``url_prefix`` + its path relative to ``folder``
    (an http(s) URL or a relative path). The result's :meth:`FolderResult.document`
    is the launch file; ``skipped``, ``duplicates`` and ``warnings`` say what was
    left out and why.

    Raises
    ------
    InputError
        ``folder`` is not a folder, or holds no usable DICOM instance.
    UsageError
        ``url_prefix`` cannot be used in a launch file.
    """
    return _read_folder(
        Path(folder),
        url_prefix,
        keep_private=keep_private,
        inline_documents=inline_documents,
        jobs=jobs,
    )


def validate_document(document: Any) -> list[Problem]:
    """Every problem of a launch file (``{"studies": [...]}``) that OHIF would trip on, in
    document order; an empty list for a good one (docs/format.md, "Validation")."""
    return validate(document)
