"""Groups of LCZ classes the statistics report, with where each comes from.

Built types are LCZ 1-10 (Stewart & Oke 2012). "Impervious-dominated" classes are those
whose pervious surface fraction in Stewart & Oke (2012, Bull. Amer. Meteor. Soc. 93,
1879-1900, Table 3) is at most 50 % over its whole range: LCZ 1 (<10 %), 2 (<20 %),
3 (<30 %), 4 (30-40 %), 5 (20-40 %), 7 (<30 %), 8 (<20 %), 10 (40-50 %) and E, bare
rock or paved (<10 %). LCZ 6 (30-60 %), 9 (60-80 %) and the other land-cover types
(>90 %) are not.
"""

from __future__ import annotations

# Stewart & Oke (2012), Table 3: pervious surface fraction (%) per LCZ code, (low, high)
PERVIOUS_FRACTION = {
    1: (0, 10), 2: (0, 20), 3: (0, 30), 4: (30, 40), 5: (20, 40), 6: (30, 60),
    7: (0, 30), 8: (0, 20), 9: (60, 80), 10: (40, 50), 11: (90, 100), 12: (90, 100),
    13: (90, 100), 14: (90, 100), 15: (0, 10), 16: (90, 100), 17: (90, 100),
}  # fmt: skip
BUILT_CODES: tuple[int, ...] = tuple(range(1, 11))
IMPERVIOUS_CODES: tuple[int, ...] = tuple(
    code for code, (_, high) in PERVIOUS_FRACTION.items() if high <= 50
)
IMPERVIOUS_TEXT = (
    "LCZ 1, 2, 3, 4, 5, 7, 8, 10 and E: pervious surface fraction at most 50 % "
    "(Stewart & Oke 2012, Table 3)"
)
