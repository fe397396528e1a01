"""The operations that change or judge a deployed database, as the CLI and ``up`` run them.

Each takes the owner's URL and the role prefix, returns a result, and raises a
``MergepointError`` (one line) a user can act on: printing is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schema import consumers, events, migrations, roles, taskqueue
from schema.consumers import Break
from schema.errors import MergepointError


@dataclass(frozen=True)
class MigrateResult:
    before: str | None
    after: str | None
    role_changes: tuple[str, ...]
    subscription_changes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        schema = (
            f"schema: {self.before or 'empty'} -> {self.after}"
            if self.before != self.after
            else f"schema: at {self.after} (nothing to do)"
        )
        changes = len(self.role_changes)
        lines = [schema, f"roles: {changes} change(s)" if changes else "roles: up to date"]
        return lines + [f"events: {change}" for change in self.subscription_changes]


class MigrationRefused(MergepointError):
    """The pending revisions would break a consumer; ``breaks`` says which and how."""

    def __init__(self, target: str | None, breaks: list[Break]):
        more = f" (and {len(breaks) - 1} more)" if len(breaks) > 1 else ""
        super().__init__(
            f"migration to {target} would break {breaks[0]}{more};"
            " fix the app or the migration, or use --force"
        )
        self.target = target
        self.breaks = breaks


def migrate(
    url: str,
    revision: str = "head",
    *,
    force: bool = False,
    lock_timeout: str | None = None,
    prefix: str = "",
) -> MigrateResult:
    """Vet pending revisions against the consumers, upgrade, reconcile roles."""
    before = migrations.current(url)
    target = migrations.resolve_target(revision)
    descriptions, failures = consumers.describe_all()
    if before != target and not force:
        breaks = failures + consumers.vet_migration(url, revision, prefix, descriptions)
        if breaks:
            raise MigrationRefused(target, breaks)
    migrations.upgrade(url, revision, timeout=lock_timeout)
    after = migrations.current(url)
    report = roles.reconcile(url, prefix)
    subscribed = events.reconcile(url, prefix, descriptions)
    return MigrateResult(before, after, tuple(report.changes), tuple(subscribed))


def downgrade(
    url: str, revision: str, *, lock_timeout: str | None = None, prefix: str = ""
) -> MigrateResult:
    """Downgrade to ``revision`` and reconcile roles with what is left."""
    migrations.resolve_revision(revision)
    before = migrations.current(url)
    migrations.downgrade(url, revision, timeout=lock_timeout)
    report = roles.reconcile(url, prefix)
    return MigrateResult(before, migrations.current(url), tuple(report.changes))


@dataclass(frozen=True)
class CheckResult:
    revision: str | None
    drift: list[str]
    breaks: list[Break]
    consumers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drift and not self.breaks


def check(url: str, prefix: str = "") -> CheckResult:
    """Schema drift (live database vs the code) and consumer breaks, reported apart."""
    drift = migrations.drift(url) + roles.drift(url, prefix) + taskqueue.drift(url, prefix)
    descriptions, failures = consumers.describe_all()
    breaks = failures + consumers.check(url, prefix, descriptions)
    return CheckResult(
        migrations.current(url), drift, breaks, [d["name"] for d in descriptions]
    )
