"""Hooks for the schemathesis run (loaded through SCHEMATHESIS_HOOKS by test_schemathesis.py).

An Idempotency-Key names one attempt at one order: clients make a fresh one per order
(a UUID, say) and repeat it only to retry that same order. Generated keys repeat by
chance ("0" twice, with two different bodies), and the API rightly refuses that with
422 idempotency_key_reused, a rule a schema cannot state. So in a schema-valid request
each well-formed key gets a suffix unique to that request, as schemathesis advises for
unique fields. Negative cases are sent as generated (editing one would make schemathesis
re-judge it, and put back a header the case meant to leave out). Reusing a key is tested
on its own (tests/flask_app/test_orders.py).

The run acts as one customer (its token in the environment, STOREFRONT_TEST_TOKEN) through
an auth provider rather than a fixed header, for one operation's sake: DELETE
/api/tokens/current revokes the token it is sent, so it gets a fresh token of the same
customer each time (made with POST /api/tokens), and the run's own token lives on.
"""

from __future__ import annotations

import itertools
import os
import re

import httpx
import schemathesis

HEADER = "Idempotency-Key"
WELL_FORMED = re.compile(r"[\x21-\x7e]{1,255}")
_attempts = itertools.count(1)


@schemathesis.hook
def before_call(context, case, kwargs):  # type: ignore[no-untyped-def]
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return
    key = (case.headers or {}).get(HEADER)
    if isinstance(key, str) and WELL_FORMED.fullmatch(key):
        suffix = f"~{next(_attempts)}"
        case.headers[HEADER] = key[: 255 - len(suffix)] + suffix


TOKEN = "STOREFRONT_TEST_TOKEN"
BASE_URL = "STOREFRONT_TEST_BASE_URL"
REVOKE = ("DELETE", "/api/tokens/current")


STAFF = re.compile("^/api/staff/")


@schemathesis.auth(refresh_interval=None).skip_for(path_regex=STAFF.pattern)
class CustomerToken:
    """Asked for every case (refresh_interval=None): revocation needs its own token."""

    def get(self, case, context):  # type: ignore[no-untyped-def]
        token = os.environ[TOKEN]
        if (case.method.upper(), case.path) != REVOKE:
            return token
        fresh = httpx.post(
            os.environ[BASE_URL] + "/api/tokens",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        fresh.raise_for_status()
        return fresh.json()["token"]

    def set(self, case, data, context):  # type: ignore[no-untyped-def]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth().apply_to(path_regex=STAFF.pattern)
class StaffSession:
    """The staff endpoints: the back office's session cookie (a session the test began
    through identity.begin_staff_session, its key in STAFF_SESSION_KEY)."""

    def get(self, case, context):  # type: ignore[no-untyped-def]
        return os.environ["STAFF_SESSION_KEY"]

    def set(self, case, data, context):  # type: ignore[no-untyped-def]
        case.cookies = {**(case.cookies or {}), "sessionid": data}
