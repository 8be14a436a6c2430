"""Schemathesis hooks for scripts/contract-fuzz: bearer authentication that survives the run.

Every protected operation gets the session token in $FUZZ_TOKEN, except
`DELETE /v1/sessions/current` (sign-out ends the session it is called with): each of its cases
gets a spare session of its own from the file $FUZZ_SPARE_TOKENS (one token a line, created by
the script before the run), so signing out never logs the rest of the run out.
"""

import os
import threading

import schemathesis

_lock = threading.Lock()
_spares = [t for t in open(os.environ["FUZZ_SPARE_TOKENS"]).read().split() if t]
_main = os.environ["FUZZ_TOKEN"]


@schemathesis.auth(refresh_interval=None)
class Session:
    def get(self, case, ctx):
        op = ctx.operation
        if op.method.upper() == "DELETE" and op.path == "/v1/sessions/current":
            with _lock:
                if not _spares:
                    raise RuntimeError("out of spare sessions for sign-out: raise FUZZ_SPARE_SESSIONS")
                return _spares.pop()
        return _main

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
