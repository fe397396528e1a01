"""Errors a user can meet: each renders as one readable line (the CLI exits non-zero)."""


class MergepointError(Exception):
    """A failure the user can act on; ``str(err)`` is the whole message, one line."""


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (drivers spread theirs over several)."""
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
