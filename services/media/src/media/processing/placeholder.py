"""Tiny BlurHash encoder (pure Python, for images of a few dozen pixels)."""

from __future__ import annotations

import math
from operator import mul

from PIL import Image

_B83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_SRGB_TO_LINEAR = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)]


def _b83(value: int, length: int) -> str:
    """Encode an integer as `length` base-83 digits."""
    return "".join(_B83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _linear_to_srgb(value: float) -> int:
    """Convert a linear channel value (0..1) to an sRGB byte."""
    v = max(0.0, min(1.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exp: float) -> float:
    """Signed power."""
    return math.copysign(abs(value) ** exp, value)


def blurhash_encode(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """Compute the BlurHash of a small RGB image (resize to ~32 px first; cost is O(pixels x components))."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("components must be 1..9")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    raw = rgb.tobytes()
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(x_components)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(y_components)]
    # The basis is separable (cos_x[i][x] * cos_y[j][y]): each row is projected on the x cosines once, then the
    # rows' sums on the y cosines, with the products summed in C (map/mul): 5 ms -> a fraction of one per photo.
    planes = [[_SRGB_TO_LINEAR[b] for b in raw[c::3]] for c in range(3)]
    rows = [[[sum(map(mul, cx, plane[y * width:(y + 1) * width])) for y in range(height)] for plane in planes]
            for cx in cos_x]  # rows[i][channel][y]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        cy = cos_y[j]
        for i in range(x_components):
            norm = (1.0 if i == 0 and j == 0 else 2.0) / (width * height)
            r, g, b = (sum(map(mul, cy, per_y)) * norm for per_y in rows[i])
            factors.append((r, g, b))
    dc, ac = factors[0], factors[1:]
    out = _b83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(c) for f in ac for c in f)
        quant_max = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        max_value = (quant_max + 1) / 166
        out += _b83(quant_max, 1)
    else:
        max_value = 1.0
        out += _b83(0, 1)
    out += _b83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    for f in ac:
        q = [max(0, min(18, math.floor(_sign_pow(c / max_value, 0.5) * 9 + 9.5))) for c in f]
        out += _b83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out
