"""The one filter for text that lands in a ``#`` comment or on one line of a generated file.

Every template, device or not, passes names (the profile's path, the board, the description,
entry titles) through ``comment``: a control character there -- a newline in a profile's file
name above all -- would end the comment, and the next line of a file that sh or GRUB runs as
root (grub/default.d/layoutc.cfg, grub/grub.d/45_layoutc_recovery) would be code.
"""

from __future__ import annotations

import re

# C0 controls, DEL, and the C1 controls and line/paragraph separators some readers treat as line ends
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x80-\x9f\u2028\u2029]")


def comment(value: object) -> str:
    """``value`` as text that stays on its line: every control character becomes a space."""
    return _LINE_BREAKING.sub(" ", str(value))
