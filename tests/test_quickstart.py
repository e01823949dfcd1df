"""`make quickstart` in its --fast form: the whole pipeline runs on generated data and prints its table."""
import json
from pathlib import Path

import pytest

from scripts import quickstart


def test_fast_quickstart_trains_evaluates_and_reports_everything(tmp_path, capsys):
    out = tmp_path / 'qs'
    result = quickstart.main(['--fast', '--output', str(out)])
    printed = capsys.readouterr().out
    assert set(result['semi J&F']) == set(result['id swap']) == {'default look', 'unseen look'}
    for rows in result['semi J&F'].values():
        assert set(rows) == {'copy first-frame mask', 'untrained propagation', 'trained propagation'}
        assert all(0 <= v <= 1 for v in rows.values())
    assert all(s['sequences'] == 2 and s['ratio'] >= 0 for s in result['id swap'].values())
    assert len(result['targets']) == 8 and all(isinstance(t['met'], bool) for t in result['targets'].values())
    for metrics in result['interactive'].values():
        assert set(metrics) == {'AUC-J&F', 'J&F@60s', 'R-AUC-J&F', 'J&F per round'}
    assert 'held-out synthetic DAVIS val' in printed and 'R-AUC-J&F' in printed and 'id-swap ratio' in printed
    assert 'estimate 3 min' in printed
    assert all(Path(p).stat().st_size > 0 for p in result['plots'] + [result['overlay']])
    assert json.loads((out / 'quickstart.json').read_text())['semi J&F'] == result['semi J&F']
    with pytest.raises(SystemExit, match='not empty'):
        quickstart.main(['--fast', '--output', str(out)])
