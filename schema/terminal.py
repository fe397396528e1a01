"""Text that is safe to show on an operator's terminal.

Data the apps store is user input (a customer's name comes from the open API; a product's
name from staff), and logs print request paths: none of it may drive the terminal it is
shown on. ESC (``\\x1b]0;…\\x07`` retitles the window, ``\\x1b[2J`` clears it), the other C0
controls, DEL and the C1 controls (``\\x9b`` is a one-byte CSI to some terminals) are
removed; everything else, any script or emoji, is kept.
"""

from __future__ import annotations

TAB = 0x09
CONTROL_CHARACTERS = frozenset([*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
_STRIP = dict.fromkeys(CONTROL_CHARACTERS)
_STRIP_BUT_TAB = dict.fromkeys(CONTROL_CHARACTERS - {TAB})


def printable(text: str, *, tabs: bool = True) -> str:
    """``text`` without C0 and C1 control characters (and DEL); tabs stay unless ``tabs``
    is false (a log line keeps its indentation; a table cell is one line of its own)."""
    return text.translate(_STRIP_BUT_TAB if tabs else _STRIP)
