"""Which URL each kind of process gets: pooled, direct, or the replica.

=================================  ==========================  ===============================
process                            connects                    reads
=================================  ==========================  ===============================
the web apps (gunicorn)            the pooler, when one runs   ``<APP>_DATABASE_URL``
event consumers, queue workers     directly, as the app's role ``<APP>_DIRECT_DATABASE_URL``
reports                            the replica, when one runs  ``REPORTING_DATABASE_URL``
migrations, roles, seed (owner)    directly, always            ``MERGEPOINT_DATABASE_URL``
=================================  ==========================  ===============================

A direct process names itself (``application_name``), so an operator tells it from the
pooled ones in ``pg_stat_activity``. Without a pooler the web and direct URLs are the same
server; the direct variables are printed anyway, so a worker's configuration does not
change the day a pooler arrives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schema import db, embedded, passwords, pooler, replica
from schema.registry import DIRECT_URL_VARS, POOLED_ROLES, URL_VARS
from schema.urls import url_params, with_params


@dataclass(frozen=True)
class Routes:
    owner: str
    web: dict[str, str]  # role -> the URL its web processes read (pooled when pooling)
    direct: dict[str, str]  # role -> its direct URL (every role)
    reporting: str
    prefix: str = ""
    pooled: bool = False
    on_replica: bool = False

    def direct_for(self, role: str, process: str) -> str:
        """``role``'s direct URL for the process named ``process`` (its application_name)."""
        return with_params(self.direct[role], application_name=process)

    def exports(self) -> list[tuple[str, str]]:
        """The variables `mergepoint env` prints, in order."""
        out = [(db.ENV_URL, self.owner)]
        for role, var in URL_VARS.items():
            out.append((var, self.reporting if role == "reporting" else self.web[role]))
        for role, var in DIRECT_URL_VARS.items():
            out.append((var, self.direct[role]))
        if self.prefix:
            out.append((db.ENV_PREFIX, self.prefix))
        return out


def pooled_urls(config: pooler.Config, data_dir: Path, prefix: str, dbname: str) -> dict[str, str]:
    known = passwords.load(data_dir)
    urls = {}
    for role in POOLED_ROLES:
        user = prefix + role
        if user not in known:
            continue  # not one the pooler knows (set when it starts)
        urls[role] = pooler.pooled_url(config, user, known[user], dbname)
    return urls


def resolve(
    owner_url: str,
    data_dir: Path,
    prefix: str,
    *,
    use_pooler: bool | None = None,
    use_replica: bool | None = None,
    embedded_server: bool = True,
) -> Routes:
    """The routes for the server behind ``owner_url``.

    ``use_pooler``/``use_replica``: None follows what runs now (the pooler's pidfile in
    ``data_dir``, the replica's postmaster); True or False decides (``mergepoint up``).
    """
    stored = passwords.load(data_dir)
    direct = db.role_urls(owner_url, prefix, stored)
    dbname = url_params(owner_url).get("dbname", "")
    web = {role: direct[role] for role in POOLED_ROLES}
    config = pooler.load(data_dir / pooler.DIRNAME)
    pooled = False
    if use_pooler is None:
        use_pooler = config is not None and pooler.running_pid(config.directory) is not None
    if use_pooler and config is not None:
        web.update(pooled_urls(config, data_dir, prefix, dbname))
        pooled = True
    reporting = direct["reporting"]
    on_replica = False
    if use_replica is None:
        use_replica = embedded_server and replica.running(data_dir)
    if use_replica:
        user = prefix + "reporting"
        reporting = replica.role_url(data_dir, user, dbname, stored.get(user))
        on_replica = True
    return Routes(owner_url, web, direct, reporting, prefix, pooled, on_replica)


def current(environ: dict[str, str] | None = None) -> Routes:
    """What runs now for this environment (``mergepoint env``)."""
    env = dict(os.environ) if environ is None else environ
    owner = db.owner_url(env)
    directory = embedded.data_dir(env)
    # The embedded server, even when named by MERGEPOINT_DATABASE_URL (as after
    # `eval "$(mergepoint env)"`): its socket lives in the data directory.
    on_embedded = url_params(owner).get("host") == str(directory / "pgdata")
    return resolve(owner, directory, db.role_prefix(env), embedded_server=on_embedded)
