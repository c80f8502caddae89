"""Reading values out of a PS3.18 F.2 JSON dataset (a QIDO-RS record or WADO-RS metadata).

Pure: shared by the source, the checks across a study's answers and the snapshot run,
none of which should pull in the others (or an HTTP library) for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def first_value(dataset: Mapping[str, Any], tag: str) -> Any:
    """The first value of a tag in a PS3.18 dataset (e.g. a QIDO record), or None."""
    element = dataset.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    if isinstance(values, list) and values:
        return values[0]
    return None
