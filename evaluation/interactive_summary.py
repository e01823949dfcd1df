"""The numbers of the interactive DAVIS tables from a (merged) session report: AUC-J&F and J&F@60s as
davisinteractive computes them, CiVOS' R-AUC-J&F, per-sequence J&F per round, timing, and the plot."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evaluation.davis_compat import patch_davisinteractive, registered_sequences

METRIC = 'J_AND_F'


def package_summary(report: pd.DataFrame, davis_root: str | Path, subset: str, sequences: Sequence[str],
                    max_time: float | None, max_interactions: int) -> dict[str, Any]:
    """davisinteractive's global summary (auc, metric_at_threshold, curve) of a report over the given sequences.

    Built with an EvaluationService over the same registered sequences and limits as the sessions, so a report
    merged from several sessions is summarised exactly as one session over all of them would be.
    """
    patch_davisinteractive()
    from davisinteractive.evaluation import EvaluationService
    with registered_sequences(davis_root, subset, sequences):
        service = EvaluationService(subset, davis_root=str(davis_root), max_t=max_time, max_i=max_interactions,
                                    metric_to_optimize=METRIC)
        return service.summarize_report(report)


def round_auc(curve_metric: Sequence[float]) -> float:
    """CiVOS' R-AUC: area under [0, M_1..M_N, M_N] over x = 0..N+1, divided by N+1 (perfect: (N+0.5)/(N+1))."""
    y = np.asarray(curve_metric, dtype=np.float64)
    return float(np.trapezoid(y, np.arange(len(y))) / (len(y) - 1))


def table_summary(pkg: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers under the names papers use, plus the curve they come from."""
    curve = pkg['curve'][METRIC]
    return {'AUC-J&F': float(pkg['auc']),
            'J&F@60s': float(pkg['metric_at_threshold'][METRIC]),
            'R-AUC-J&F': round_auc(curve),
            'J&F per round': [float(v) for v in curve[1:-1]],
            'curve': {'time': [float(t) for t in pkg['curve']['time']], 'J&F': [float(v) for v in curve]}}


def per_sequence_rounds(report: pd.DataFrame) -> pd.DataFrame:
    """Mean J, F, J&F of every (sequence, scribble_idx, interaction) over its frames and objects."""
    cols = {'jaccard': 'J', 'contour': 'F', 'j_and_f': 'J&F'}
    grouped = report.groupby(['sequence', 'scribble_idx', 'interaction'], sort=False)[list(cols)].mean()
    return grouped.rename(columns=cols).reset_index().rename(columns={'interaction': 'round'})


def round_table(per_round: pd.DataFrame, mean_per_round: Sequence[float]) -> pd.DataFrame:
    """J&F per sequence (averaged over its samples) x round, with the benchmark's per-round mean as last row."""
    table = per_round.groupby(['sequence', 'round'], sort=False)['J&F'].mean().unstack('round')
    table.columns = [f'R{c}' for c in table.columns]
    mean = pd.DataFrame([list(mean_per_round)], index=['Mean'], columns=[f'R{i + 1}' for i in
                                                                         range(len(mean_per_round))])
    return pd.concat([table, mean]).rename_axis('Sequence').reset_index()


def timing_summary(rounds: pd.DataFrame, report: pd.DataFrame) -> dict[str, float]:
    """Mean seconds per interaction (interaction -> mask), per propagation, per mask-only update, per round."""
    prop = rounds[rounds['propagated']]
    update = rounds[~rounds['propagated'] & rounds['frame'].notna()]
    session = report.groupby(['sequence', 'scribble_idx', 'interaction'])['timing'].first()
    return {'interaction_s': _mean(rounds['interaction_s']), 'propagation_s': _mean(prop['propagation_s']),
            'update_s': _mean(update['propagation_s']), 'session_round_s': _mean(session)}


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float('nan')


def plot_curves(summary: dict[str, Any], path: str | Path, title: str = '') -> Path:
    """PNG with J&F vs time (the AUC curve, 60 s marked) and J&F vs interaction round (the R-AUC curve)."""
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax_t, ax_r = fig.subplots(1, 2)
    curve = summary['curve']
    ax_t.plot(curve['time'], curve['J&F'], marker='o')
    ax_t.axvline(60, color='grey', linestyle='--', linewidth=1)
    ax_t.set(xlabel='time (s)', ylabel='J&F', ylim=(0, 1),
             title=f'AUC-J&F {summary["AUC-J&F"]:.3f}, J&F@60s {summary["J&F@60s"]:.3f}')
    ax_r.plot(range(len(curve['J&F'])), curve['J&F'], marker='o')
    ax_r.set_xticks(range(len(curve['J&F'])))
    ax_r.set(xlabel='interaction round', ylabel='J&F', ylim=(0, 1), title=f'R-AUC-J&F {summary["R-AUC-J&F"]:.3f}')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
