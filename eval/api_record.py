"""Record the API's answers to a fixed set of requests, and compare a later run byte for byte.

    python -m eval.api_record record  --home H --out before.json   # H: an ingested demo home
    python -m eval.api_record compare --home H --against before.json

It serves H with `whoknows serve` in a child process on a loopback port, so it imports nothing of the
product and works across a restructuring of the code. Values that change from one run to the next by
nature (`took_ms`, `age_hours`) are masked, and the server's wall clock is frozen; everything else (status, content type, body) must match.
The tokens it signs in with are made once and kept in H/api-record-tokens.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

WHOKNOWS = Path(sys.executable).parent / "whoknows"
TOKENS_FILE = "api-record-tokens.json"
FROZEN_AT = "2026-12-01 12:00:00"
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
VOLATILE = re.compile(r'"(took_ms|age_hours)":\s*-?[0-9.eE+-]+')

# (name, method, path, token role or None, JSON body or None)
REQUESTS: list[tuple[str, str, str, str | None, dict[str, Any] | None]] = [
    ("health", "GET", "/health", None, None),
    ("ready", "GET", "/ready", None, None),
    ("openapi", "GET", "/openapi.json", None, None),
    ("page", "GET", "/", None, None),
    ("search anonymous", "GET", "/search?q=how+long+are+database+backups+kept", None, None),
    ("search staff", "GET", "/search?q=how+long+are+database+backups+kept", "staff", None),
    ("search bm25", "GET", "/search?q=postgres+replication&mode=bm25", "staff", None),
    ("search dense", "GET", "/search?q=postgres+replication&mode=dense&k=5", "staff", None),
    ("search source filter", "GET", "/search?q=vpn&source=handbook", "staff", None),
    ("search kind filter", "GET", "/search?q=kubernetes&kind=wiki", "staff", None),
    ("search empty", "GET", "/search?q=", "staff", None),
    ("search too long", "GET", "/search?q=" + "a" * 2500, "staff", None),
    ("search bad k", "GET", "/search?q=x&k=0", "staff", None),
    ("experts staff", "GET", "/experts?q=postgres+replication&k=5", "staff", None),
    ("experts mentors", "GET", "/experts?q=kubernetes&mentors_only=true", "staff", None),
    ("experts anonymous", "GET", "/experts?q=hiring", None, None),
    ("person staff", "GET", "/people/chloe.martin", "staff", None),
    ("person missing", "GET", "/people/nobody.here", "staff", None),
    ("sources staff", "GET", "/sources", "staff", None),
    ("sources anonymous", "GET", "/sources", None, None),
    ("ask staff", "POST", "/ask", "staff", {"question": "how long are database backups kept?"}),
    ("ask anonymous", "POST", "/ask", None, {"question": "how long are database backups kept?"}),
    ("ask stream", "POST", "/ask/stream", "staff", {"question": "who approves vacation?"}),
    ("metrics unauthorised", "GET", "/metrics", "staff", None),
    ("admin forbidden", "GET", "/admin/reindex", "staff", None),
    ("admin status", "GET", "/admin/reindex", "admin", None),
    ("bad token", "GET", "/search?q=backups", "bogus", None),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tokens(home: Path) -> dict[str, str]:
    path = home / TOKENS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    made = {}
    for role, user, groups, scopes in (
        ("staff", "ana.alvarez", "staff", "search,ask,experts"),
        ("admin", "ops.admin", "staff", "search,ask,experts,admin"),
    ):
        command = ["tokens", "create", "--user", user, "--groups", groups, "--scopes", scopes, "--json"]
        out = subprocess.run(
            [str(WHOKNOWS), "--home", str(home), *command],
            check=True,
            capture_output=True,
            text=True,
        )
        made[role] = json.loads(out.stdout)["token"]
    path.write_text(json.dumps(made, indent=2))
    return made


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    # as `make run` serves the demo: anonymous visitors see its public pages
    env = {**os.environ, "WHOKNOWS_RATE_LIMIT_PER_MINUTE": "0", "WHOKNOWS_ANONYMOUS": "true"}
    # Expert scores decay with the age of the evidence: the wall clock is frozen (libfaketime, the
    # Debian package `faketime`), the monotonic clocks the server's timeouts use are left alone.
    env.update(FAKETIME=FROZEN_AT, DONT_FAKE_MONOTONIC="1", LD_PRELOAD=LIBFAKETIME)
    return subprocess.Popen(
        [str(WHOKNOWS), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def record(home: Path) -> dict[str, dict[str, Any]]:
    """Every request's status, content type and body (volatile values masked), by request name."""
    tokens = {**_tokens(home), "bogus": "wk_000000000000_" + "x" * 43}
    port = _free_port()
    server = _serve(home, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server on {base} did not become ready")
                time.sleep(0.3)
            out: dict[str, dict[str, Any]] = {}
            for name, method, path, role, body in REQUESTS:
                headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
                response = client.request(method, path, headers=headers, json=body)
                text = VOLATILE.sub(lambda m: f'"{m.group(1)}": 0', response.text)
                out[name] = {
                    "request": f"{method} {path[:120]}",
                    "status": response.status_code,
                    "content_type": response.headers.get("content-type"),
                    "body": text,
                }
            return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("--home", type=Path, required=True, help="an ingested WhoKnows home")
    parser.add_argument("--out", type=Path, help="record: where to write the answers")
    parser.add_argument("--against", type=Path, help="compare: the answers recorded before")
    args = parser.parse_args(argv)
    answers = record(args.home)
    if args.action == "record":
        if args.out is None:
            parser.error("record needs --out")
        args.out.write_text(json.dumps(answers, indent=2, ensure_ascii=False))
        print(f"{len(answers)} requests recorded in {args.out}")
        return 0
    if args.against is None:
        parser.error("compare needs --against")
    before = json.loads(args.against.read_text())
    differ = [name for name in before if before[name] != answers.get(name)]
    missing = sorted(set(answers) ^ set(before))
    for name in differ:
        print(f"DIFFERS: {name} ({before[name]['request']})")
    print(f"{len(before) - len(differ)} of {len(before)} requests give byte-identical answers")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
