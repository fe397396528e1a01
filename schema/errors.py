"""Errors a user can meet: each renders as one readable line (the CLI exits non-zero)."""


class MergepointError(Exception):
    """A failure the user can act on; ``str(err)`` is the whole message, one line."""
