"""The one colour grammar of the pack, shared by the ``ben2`` CLI and the ComfyUI nodes.

Accepted, case and surrounding spaces ignored:

* a CSS colour name: ``white``, ``green``, ``rebeccapurple`` (the 148 names Pillow knows;
  ``light gray`` and ``light_gray`` mean ``lightgray``);
* ``#RGB`` or ``#RRGGBB`` hexadecimal (the ``#`` may be left out: ``0f0``, ``00ff00``);
* ``R,G,B``: three integers 0-255 (``0, 255, 0``).
"""

from __future__ import annotations

import re

__all__ = ["COLOR_FORMS", "parse_color"]

# How the accepted forms are named to users (error messages, tooltips, --help): one owner.
COLOR_FORMS = "a name such as white, #RGB, #RRGGBB (e.g. #00FF00) or R,G,B with three integers 0-255 (e.g. 0,255,0)"

_OTHER_FORMS = "the other forms are a name such as white, #RGB and #RRGGBB"

_HEX = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})")
_NAME = re.compile(r"[a-z][a-z _]*")


def parse_color(text: str) -> tuple[float, float, float]:
    """A colour written as text -> ``(r, g, b)`` floats in 0..1.

    Args:
        text: one of the forms in the module docstring.

    Returns:
        ``(r, g, b)``, each channel ``value / 255``.

    Raises:
        ValueError: ``text`` is none of the forms; the message names the accepted ones.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a colour: write {COLOR_FORMS}")
    value = text.strip().lower()
    channels = _hex_channels(value) or _rgb_channels(text, value) or _named_channels(value)
    if channels is None:
        raise ValueError(f"{text!r} is not a colour: write {COLOR_FORMS}")
    return (channels[0] / 255.0, channels[1] / 255.0, channels[2] / 255.0)


def _hex_channels(value: str) -> tuple[int, int, int] | None:
    match = _HEX.fullmatch(value)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _rgb_channels(text: str, value: str) -> tuple[int, int, int] | None:
    if "," not in value:
        return None
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"{text!r} is not a colour: R,G,B takes three integers 0-255 (e.g. 0,255,0); {_OTHER_FORMS}")
    red, green, blue = (int(part) for part in parts)
    if max(red, green, blue) > 255:
        raise ValueError(f"{text!r} is not a colour: each of R,G,B must be in 0-255; {_OTHER_FORMS}")
    return red, green, blue


def _named_channels(value: str) -> tuple[int, int, int] | None:
    if _NAME.fullmatch(value) is None:
        return None
    from PIL import ImageColor  # a dependency of the package; imported only when a name is used

    name = value.replace(" ", "").replace("_", "")
    if name not in ImageColor.colormap:
        return None
    red, green, blue = ImageColor.getrgb(name)[:3]
    return red, green, blue
