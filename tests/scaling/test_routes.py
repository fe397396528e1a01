"""Which URL each process gets, and the URL parameters that are ours, not libpq's."""

from __future__ import annotations

import psycopg
import pytest

from schema import fleet, routes
from schema.errors import MergepointError
from schema.urls import is_pooled, prepare_threshold, to_libpq, url_params, validate_url, with_user

POOLED = "postgresql://sf:pw@127.0.0.1:6432/mergepoint?pooler=transaction"
DIRECT = "postgresql://sf:pw@/mergepoint?host=%2Fsrv%2Fpg"


def test_our_parameters_survive_rewrites_and_never_reach_libpq():
    assert to_libpq(POOLED) == "postgresql://sf:pw@127.0.0.1:6432/mergepoint"
    assert url_params(POOLED) == {
        "user": "sf", "password": "pw", "host": "127.0.0.1", "port": "6432", "dbname": "mergepoint"
    }  # fmt: skip
    other = with_user(POOLED, "bo", password="x")
    assert other == "postgresql://bo:x@127.0.0.1:6432/mergepoint?pooler=transaction"
    assert is_pooled(other) and not is_pooled(DIRECT)
    assert (prepare_threshold(POOLED), prepare_threshold(DIRECT)) == (None, 5)
    assert prepare_threshold(POOLED + "&prepare_threshold=3") == 3


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (POOLED.replace("transaction", "session"), "the one pooling mode is pooler=transaction"),
        (POOLED + "&prepare_threshold=soon", "prepare_threshold must be a whole number"),
    ],
)
def test_bad_parameters_of_ours_are_one_line(url, message):
    with pytest.raises(MergepointError, match=message):
        validate_url(url)


def test_a_direct_process_gets_its_roles_direct_url_under_both_names_and_its_own_name():
    plan = routes.Routes(
        owner="postgresql://mergepoint@/mergepoint?host=%2Fsrv%2Fpg",
        web={"storefront": POOLED, "backoffice": POOLED.replace("sf", "bo")},
        direct={"storefront": DIRECT, "backoffice": DIRECT.replace("sf", "bo"), "reporting": ""},
        reporting="",
    )
    base = {
        "PATH": "/usr/bin",
        "MERGEPOINT_DATABASE_URL": plan.owner,
        "STOREFRONT_DATABASE_URL": POOLED,
    }
    env = fleet.direct_env(plan, "storefront", "storefront-events", base)
    assert env["STOREFRONT_DATABASE_URL"] == env["STOREFRONT_DIRECT_DATABASE_URL"]
    direct = env["STOREFRONT_DIRECT_DATABASE_URL"]
    assert not is_pooled(direct)
    assert url_params(direct)["application_name"] == "storefront-events"
    assert "MERGEPOINT_DATABASE_URL" not in env  # never the owner's keys
    assert env["PATH"] == "/usr/bin"


def test_a_direct_process_is_named_in_pg_stat_activity(fresh_db, tmp_path):
    plan = routes.resolve(
        fresh_db.owner_url, tmp_path, fresh_db.prefix, use_pooler=False, use_replica=False
    )
    assert plan.web["storefront"] == plan.direct["storefront"]  # no pooler: the same server
    url = plan.direct_for("storefront", "storefront-events")
    with psycopg.connect(to_libpq(url)) as conn:
        row = conn.execute("SELECT current_user, current_setting('application_name')").fetchone()
    assert row == (f"{fresh_db.prefix}storefront", "storefront-events")
