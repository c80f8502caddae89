"""dcmjs as the outside reference for the mapper.

Runs the pinned dcmjs (``tests/dcmjs``, npm) ``DicomMetaDictionary.naturalizeDataset``
on the same PS3.18 datasets the mapper gets, then applies *only* the deliberate
differences that docs/format.md lists ("What differs from dcmjs"), written out again
here independently of the mapper's code. Whatever remains must be equal: keys,
scalars vs arrays, nesting.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "dcmjs"
SCRIPT = HERE / "naturalize.js"

# docs/format.md: pixel and waveform bulk data is never written.
_DROPPED = {"7FE00001", "7FE00002", "7FE00008", "7FE00009", "7FE00010", "54001010", "56000020"}
_TEXT = set("AE AS AT CS DA DT LO LT PN SH ST TM UC UI UR UT".split())


def ensure_dcmjs() -> None:
    """Fail with a clear message if node or the pinned dcmjs is missing."""
    if shutil.which("node") is None:
        raise RuntimeError("node is not installed (apt-get install nodejs npm)")
    if not (HERE / "node_modules" / "dcmjs").is_dir():
        raise RuntimeError(f"dcmjs is not installed: run 'npm ci' in {HERE}")


def naturalize(datasets: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """dcmjs' naturalized datasets and the key dcmjs gave every tag."""
    ensure_dcmjs()
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(datasets).encode(),
        capture_output=True,
        check=True,
        timeout=300,
    )
    answer = json.loads(done.stdout)
    return answer["natural"], answer["names"]


def _private(tag: str) -> bool:
    return int(tag[3], 16) % 2 == 1


def _empty(vr: str | None) -> Any:
    if vr in _TEXT:
        return ""
    if vr == "SQ":
        return []
    return None


def _pn(value: Any) -> Any:
    if isinstance(value, dict):
        groups = [value.get(k) or "" for k in ("Alphabetic", "Ideographic", "Phonetic")]
        return "=".join(groups).rstrip("=")
    return "" if value is None else value


def _number(value: Any, vr: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    if vr == "IS" or (number.is_integer() and "." not in value and "e" not in value.lower()):
        return int(number) if number.is_integer() else value
    return number


def expected(
    ps318: dict[str, Any],
    natural: dict[str, Any],
    names: dict[str, str],
    keep_private: bool = False,
) -> dict[str, Any]:
    """What the mapper must give for ``ps318``, derived from dcmjs' ``natural`` answer."""
    out: dict[str, Any] = {}
    for tag, element in ps318.items():
        name = names[tag]
        if _private(tag) and not keep_private:
            continue
        upper = tag.upper()
        if upper in _DROPPED or (upper[:2] in ("50", "60") and upper[4:] == "3000"):
            continue
        assert name in natural, f"dcmjs lost {tag} ({name})"
        value = natural[name]
        vr = element.get("vr")
        values = element.get("Value")
        if values is None or values == []:
            if "InlineBinary" in element or "BulkDataURI" in element:
                out[name] = value
            else:
                out[name] = _empty(vr)
            continue
        if vr == "SQ":
            items = value if isinstance(value, list) else [value]
            out[name] = [
                expected(i, n, names, keep_private) for i, n in zip(values, items, strict=True)
            ]
            continue
        many = value if len(values) > 1 else [value]
        if vr == "PN":
            # dcmjs keeps a single PN object as a one-item array (its sequence rule).
            many = value if isinstance(value, list) else many
            many = [_pn(v) for v in many]
        elif vr in ("DS", "IS"):
            many = [_number(v, vr) for v in many]
        if len(values) == 1:
            out[name] = _empty(vr) if many[0] is None else many[0]
        else:
            out[name] = many
    return out


def strip_vrmap(value: Any) -> Any:
    """Remove dcmjs' bookkeeping ``_vrMap`` keys (docs/format.md: none anywhere)."""
    if isinstance(value, dict):
        return {k: strip_vrmap(v) for k, v in value.items() if k != "_vrMap"}
    if isinstance(value, list):
        return [strip_vrmap(v) for v in value]
    return value
