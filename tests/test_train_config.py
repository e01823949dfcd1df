"""Training recipes: shipped configs hold the original's hyper-parameters (docs/mivos.md); overrides are typed, checked."""
import pytest

from train.cli import resolve_config
from util.config import CONFIG_DIR, ConfigError, apply_overrides, load_config, stage_config_path


@pytest.mark.parametrize('stage,batch,iterations,steps,skip_end', [
    ('static', 14, 300_000, [250_000], None), ('bl30k', 8, 500_000, [450_000], 0.8),
    ('main', 8, 150_000, [125_000], 0.9)])
def test_propagation_recipes_match_the_original_stages(stage, batch, iterations, steps, skip_end):
    cfg = load_config(stage_config_path('propagation', stage))
    t = cfg['train']
    assert (t['batch_size'], t['iterations'], t['steps']) == (batch, iterations, steps)
    assert (t['lr'], t['gamma'], t['weight_decay'], t['amp'], t['seed']) == (1e-5, 0.1, 1e-7, False, 14159265)
    assert (cfg['loss']['start_warm'], cfg['loss']['end_warm'], cfg['loss']['top_p']) == (20_000, 70_000, 0.15)
    assert cfg['model']['single_object'] == (stage == 'static')
    assert (cfg['log']['report_interval'], cfg['log']['image_interval'], cfg['log']['save_interval']) == \
        (100, 800, 50_000)
    if skip_end is None:
        assert cfg['curriculum'] is None
    else:
        assert cfg['curriculum'] == {'max_skip': [5, 10, 15, 20, 25, 5], 'at': [0.1, 0.2, 0.3, 0.4, skip_end]}


def test_s2m_and_fusion_recipes_match_the_original():
    s2m = load_config(CONFIG_DIR / 's2m.yaml')
    assert (s2m['train']['batch_size'], s2m['train']['iterations'], s2m['train']['lr'], s2m['train']['steps']) == \
        (32, 80_000, 1e-4, [])
    assert (s2m['loss']['start_warm'], s2m['loss']['end_warm']) == (10_000, 30_000)
    for stage, iterations, steps in (('bl30k', 30_000, [20_000]), ('davis', 10_000, [7_500])):
        f = load_config(stage_config_path('fusion', stage))
        assert (f['train']['batch_size'], f['train']['iterations'], f['train']['steps']) == (24, iterations, steps)
        assert (f['loss']['start_warm_frac'], f['loss']['end_warm_frac']) == (0.2, 0.5)


def test_stage_names_and_original_numbers_pick_the_same_recipe():
    assert stage_config_path('propagation', '1') == stage_config_path('propagation', 'bl30k')
    assert stage_config_path('fusion', '1').name == 'fusion_davis.yaml'
    with pytest.raises(ConfigError, match="unknown propagation stage 'youtube'.*bl30k"):
        stage_config_path('propagation', 'youtube')


def test_overrides_are_typed_by_yaml_and_unknown_keys_are_refused():
    cfg = apply_overrides({'train': {'lr': 1e-5, 'steps': [1], 'amp': False}},
                          ['train.lr=2e-4', 'train.steps=[3, 4]', 'train.amp=true'])
    assert cfg['train'] == {'lr': 2e-4, 'steps': [3, 4], 'amp': True}
    with pytest.raises(ConfigError, match="unknown config key 'train.lrr'"):
        apply_overrides(cfg, ['train.lrr=1'])
    with pytest.raises(ConfigError, match='key.sub=value'):
        apply_overrides(cfg, ['train.lr'])


def test_original_flags_and_set_overrides_resolve_in_order():
    cfg, args = resolve_config('propagation', ['--stage', 'bl30k', '-b', '4', '--steps', '10', '20',
                                               '--bl_root', '/data/BL30K', '--set', 'train.lr=3e-5', '--debug'])
    assert cfg['stage'] == 'bl30k' and cfg['train']['batch_size'] == 4 and cfg['train']['steps'] == [10, 20]
    assert cfg['data']['bl_root'] == '/data/BL30K' and cfg['train']['lr'] == 3e-5
    assert cfg['log']['report_interval'] == 1 and args.resume is None


def test_a_flag_the_recipe_does_not_read_is_an_error():
    with pytest.raises(ConfigError, match='--bl-root is not used by the recipe'):
        resolve_config('propagation', ['--stage', 'static', '--bl_root', '/x'])
    with pytest.raises(ConfigError, match="recipe for the 'propagation' trainer"):
        resolve_config('s2m', ['--config', str(CONFIG_DIR / 'prop_static.yaml')])
