"""A token command for the tests: prints a new bearer token each run, as ``gcloud auth
print-access-token`` or ``az account get-access-token`` do, for tests/token_server.py.

    python tests/token_issuer.py STATE_DIR [--style plain|oauth|az|gcloud]
        [--expires-in SECONDS] [--fail-from N] [--empty] [--sleep SECONDS]

Each run takes the next number from ``STATE_DIR/count``, signs ``<n>-<issued ms>`` with
the secret in ``STATE_DIR/secret`` (HMAC-SHA256, so the proxy can check the token
without being told it) and appends the token to ``STATE_DIR/issued``. A run that
finds another one still running records that in ``STATE_DIR/overlaps`` (the client
must never run the command twice at once). ``--fail-from N``: the N-th and later runs
exit 3 with a one-line message on stderr; ``--empty``: print nothing, exit 0;
``--sleep``: take that long first.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path


def sign(secret: bytes, n: int, issued_ms: int) -> str:
    body = f"{n}-{issued_ms}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"tk{body}-{mac}"


def output(style: str, token: str, expires_in: float) -> str:
    now = time.time()
    if style == "oauth":  # RFC 6749 5.1
        return json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
    if style == "az":  # az account get-access-token (Azure CLI 2.54+)
        local = datetime.datetime.fromtimestamp(now + expires_in).isoformat(" ")
        return json.dumps(
            {
                "accessToken": token,
                "expiresOn": local,
                "expires_on": int(now + expires_in),
                "subscription": "00000000-0000-0000-0000-000000000000",
                "tenant": "00000000-0000-0000-0000-000000000000",
                "tokenType": "Bearer",
            },
            indent=2,
        )
    if style == "gcloud":  # gcloud config config-helper --format=json
        expiry = datetime.datetime.fromtimestamp(now + expires_in, datetime.UTC)
        return json.dumps(
            {
                "configuration": {"active_configuration": "default"},
                "credential": {
                    "access_token": token,
                    "token_expiry": expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            },
            indent=2,
        )
    return token


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("state", type=Path)
    parser.add_argument("--style", default="plain", choices=["plain", "oauth", "az", "gcloud"])
    parser.add_argument("--expires-in", type=float, default=3600.0)
    parser.add_argument("--fail-from", type=int)
    parser.add_argument("--empty", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    state: Path = args.state
    with open(state / "lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with open(state / "overlaps", "a") as overlaps:
                overlaps.write("overlap\n")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if args.sleep:
            time.sleep(args.sleep)
        count_file = state / "count"
        n = int(count_file.read_text() or 0) + 1 if count_file.exists() else 1
        count_file.write_text(str(n))
        if args.fail_from is not None and n >= args.fail_from:
            print("ERROR: (issuer) Reauthentication required, run login", file=sys.stderr)
            print("second line that must not be shown", file=sys.stderr)
            return 3
        if args.empty:
            return 0
        token = sign((state / "secret").read_bytes(), n, int(time.time() * 1000))
        with open(state / "issued", "a") as issued:
            issued.write(token + "\n")
    print(output(args.style, token, args.expires_in))
    return 0


if __name__ == "__main__":
    sys.exit(main())
