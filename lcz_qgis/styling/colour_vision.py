"""How far apart a palette's colours look, with normal colour vision and with the three
dichromacies: the check behind the colour-blind-safe LCZ palette (``legend.PALETTES``).

Dichromacy is simulated with the matrices of Machado, Oliveira & Fernandes (2009, "A
physiologically-based model for simulation of color vision deficiency", IEEE TVCG 15(6),
severity 1.0), applied to linear sRGB; distances are CIEDE2000 (Sharma, Wu & Dalal 2005)
in CIELAB (D65).
"""

from __future__ import annotations

import numpy as np

# Machado et al. (2009), severity 1.0, rows = output linear R, G, B
CVD_MATRICES: dict[str, np.ndarray] = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}  # fmt: skip
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])  # fmt: skip
_WHITE = np.array([0.95047, 1.0, 1.08883])


def hex_to_linear(colors) -> np.ndarray:
    """(n, 3) linear sRGB (0..1) of "#rrggbb" colours."""
    rgb = np.array([[int(c.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)] for c in colors]) / 255
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def simulate(linear: np.ndarray, condition: str) -> np.ndarray:
    """Linear sRGB as seen with ``condition`` (a ``CVD_MATRICES`` key), clipped to 0..1."""
    return np.clip(linear @ CVD_MATRICES[condition].T, 0.0, 1.0)


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    """(n, 3) CIELAB (D65) of (n, 3) linear sRGB."""
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours (rows of ``lab1`` and ``lab2``,
    broadcast), kL = kC = kH = 1 (Sharma, Wu & Dalal 2005)."""
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    d_big_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, c_bar_p = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = (
        np.where(np.abs(h1p - h2p) > 180, np.where(h_sum < 360, h_sum + 360, h_sum - 360), h_sum)
        / 2
    )
    h_bar = np.where(c1p * c2p == 0, h_sum, h_bar)
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))  # fmt: skip
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_bar_p, 1 + 0.015 * c_bar_p * t
    r_c = 2 * np.sqrt(c_bar_p**7 / (c_bar_p**7 + 25.0**7))
    r_t = -np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2)))) * r_c
    dl, dc, dhh = (l2 - l1) / s_l, (c2p - c1p) / s_c, d_big_h / s_h
    return np.sqrt(dl**2 + dc**2 + dhh**2 + r_t * dc * dhh)


def pairwise_distances(colors, condition: str = "normal") -> np.ndarray:
    """(n, n) CIEDE2000 distances between ``colors`` ("#rrggbb") as seen with
    ``condition``; the diagonal is inf."""
    lab = linear_to_lab(simulate(hex_to_linear(colors), condition))
    d = ciede2000(lab[:, None, :], lab[None, :, :])
    np.fill_diagonal(d, np.inf)
    return d


def closest_pair(colors, condition: str = "normal") -> tuple[float, int, int]:
    """(distance, i, j): the two of ``colors`` that look most alike with ``condition``."""
    d = pairwise_distances(colors, condition)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return float(d[i, j]), int(min(i, j)), int(max(i, j))


def lightness(colors) -> np.ndarray:
    """CIELAB L* (0 black .. 100 white) of ``colors`` ("#rrggbb")."""
    return linear_to_lab(hex_to_linear(colors))[:, 0]
