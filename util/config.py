"""Training recipes as YAML files under configs/, with typed `key.sub=value` overrides and named stages."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

# YAML 1.1 reads '1e-4' (no dot) as a string; such overrides are meant as numbers.
_EXPONENT_FLOAT = re.compile(r'[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+')
CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'

# Stage names (and the original integer stage ids) -> config file stem, per trainer.
STAGES: dict[str, dict[str, str]] = {
    'propagation': {'static': 'prop_static', 'bl30k': 'prop_bl30k', 'main': 'prop_main',
                    '0': 'prop_static', '1': 'prop_bl30k', '2': 'prop_main'},
    'fusion': {'bl30k': 'fusion_bl30k', 'davis': 'fusion_davis', '0': 'fusion_bl30k', '1': 'fusion_davis'},
    's2m': {'main': 's2m', '0': 's2m'},
}


class ConfigError(ValueError):
    """A configuration file, stage name or override that cannot be used."""


def load_config(path: str | Path) -> dict:
    """Read one YAML config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path} (see {CONFIG_DIR} for the shipped recipes)')
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f'{path} is not valid YAML: {" ".join(str(e).split())}') from None
    if not isinstance(cfg, dict):
        raise ConfigError(f'{path} does not hold a YAML mapping')
    return cfg


def stage_config_path(trainer: str, stage: str) -> Path:
    """The shipped recipe of a named (or numbered) stage of a trainer."""
    stages = STAGES.get(trainer)
    if stages is None:
        raise ConfigError(f'unknown trainer {trainer!r}; expected one of {sorted(STAGES)}')
    if str(stage) not in stages:
        names = sorted(k for k in stages if not k.isdigit())
        raise ConfigError(f'unknown {trainer} stage {stage!r}; expected one of {names} '
                          f'(or {sorted(k for k in stages if k.isdigit())})')
    return CONFIG_DIR / f'{stages[str(stage)]}.yaml'


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr=1e-4' -> ('train.lr', 0.0001); the value is typed by YAML ('[1, 2]', 'null', 'true', ...)."""
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise ConfigError(f'override {text!r} must look like key.sub=value')
    if _EXPONENT_FLOAT.fullmatch(value.strip()):
        return key.strip(), float(value)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise ConfigError(f'cannot parse the value of override {text!r}: {e}') from e


def set_key(cfg: dict, dotted: str, value: Any) -> None:
    """Set cfg[a][b] = value for 'a.b'; unknown keys are an error so that typos do not pass silently."""
    node = cfg
    parts = dotted.split('.')
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = '.'.join(parts[:i]) or 'the top level'
            keys = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(f'unknown config key {dotted!r}: {part!r} is not in {where} (keys: {keys})')
        if i == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]


def get_key(cfg: dict, dotted: str) -> Any:
    """cfg[a][b] for 'a.b'."""
    node = cfg
    for part in dotted.split('.'):
        node = node[part]
    return node


def apply_overrides(cfg: dict, overrides: list[str] | None) -> dict:
    """A copy of cfg with every 'key.sub=value' override applied in order."""
    cfg = copy.deepcopy(cfg)
    for text in overrides or []:
        set_key(cfg, *parse_override(text))
    return cfg
