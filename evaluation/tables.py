"""Plain-text tables for the end of an evaluation run."""
from __future__ import annotations

import pandas as pd


def format_table(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as aligned text with fixed-precision floats (what the scripts print when they finish)."""
    return table.to_string(index=False, float_format=lambda x: f'{x:.{digits}f}')
