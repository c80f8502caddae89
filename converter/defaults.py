"""The defaults that were chosen by measurement, in one module that imports nothing, so the
command line's parser can show them without loading the HTTP stack (``map`` starts in a
fraction of the time; benchmarks/map_vs_dcmjs.py).
"""

from __future__ import annotations

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection or for the next bytes of an answer."""


DEFAULT_WORKERS = 4
"""Concurrent metadata requests (chosen by measurement, see benchmarks/)."""


RETRY_ATTEMPTS = 5
"""Attempts at a request a busy server answered "later" (429, 503, ...)."""


RETRY_BACKOFF = 0.5
"""Seconds before the first retry, doubled for each next one."""


STUDY_REQUEST_MAX = 2000
"""The largest study (in instances, as the search counts them) asked for in one request.

A run of many studies asks for each study's metadata at once (PS3.18 10.4.1.1.2):
one request instead of a series search plus one per series. Measured on Orthanc
1.10 (50 studies of 200 instances, 4 workers), the server then spends 10-15 %
less CPU on the same metadata. Bigger studies, and runs of a few studies, are
fetched series by series, so that the workers share one study's work.
"""
