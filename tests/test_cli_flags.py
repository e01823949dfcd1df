"""Every entry point spells its flags with dashes and still takes the original MiVOS underscore spellings."""
import importlib
import sys
from pathlib import Path

import pytest

from train.cli import build_parser as train_parser
from util.cli import spellings

ROOT = Path(__file__).resolve().parents[1]


def script_parser(path: str):
    sys.path.insert(0, str(ROOT))
    return importlib.import_module(path).build_parser()


def test_spellings_add_the_underscore_alias_after_each_dashed_long_option():
    assert spellings('--prop-model') == ('--prop-model', '--prop_model')
    assert spellings('-b', '--batch-size') == ('-b', '--batch-size', '--batch_size')
    assert spellings('--lr') == ('--lr',)


@pytest.mark.parametrize('module,flag,value', [('scripts.segment_video', 'prop-model', 'p.pth'),
                                               ('eval_semi_davis', 'mem-freq', '3'),
                                               ('eval_interactive_davis', 'save-mask', None),
                                               ('scripts.interactive_gui', 'ritm-model', 'r.pth'),
                                               ('scripts.interactive_gui', 'brs-mode', 'f-BRS-B')])
def test_entry_points_take_both_spellings(module, flag, value):
    parser = script_parser(module)
    required = {'scripts.segment_video': ['--video', 'v', '--mask', 'm.png', '--prop-model', 'x', '--output', 'o'],
                'eval_semi_davis': ['--davis', 'd', '--output', 'o'],
                'eval_interactive_davis': ['--davis', 'd', '--output', 'o'],
                'scripts.interactive_gui': ['--demo']}[module]
    dest = flag.replace('-', '_')
    results = []
    for spelt in (f'--{flag}', f'--{dest}'):
        args = parser.parse_args(required + [spelt] + ([value] if value is not None else []))
        results.append(getattr(args, dest))
    assert results[0] == results[1] and results[0] not in (None, False)
    assert f'--{flag}' in parser.format_help()


def test_trainer_flags_take_both_spellings():
    parser = train_parser('propagation')
    for argv in (['--load-network', 'w.pth', '--bl-root', 'b'], ['--load_network', 'w.pth', '--bl_root', 'b']):
        args = vars(parser.parse_args(argv))
        assert args['init.load_network'] == 'w.pth' and args['data.bl_root'] == 'b'
