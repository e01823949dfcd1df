"""Minimal LVIS v1 reader (no pycocotools): image files and polygon instances from lvis_v1_train.json."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from util.image_io import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LvisInstance:
    """One annotated instance: its polygon area (px) and polygons as flat [x1, y1, x2, y2, ...] lists."""
    area: float
    polygons: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class LvisImage:
    """An image file with its size and instances."""
    file_name: str
    height: int
    width: int
    instances: tuple[LvisInstance, ...]


def _file_name(entry: dict) -> str:
    if 'file_name' in entry:
        return Path(entry['file_name']).name
    if 'coco_url' in entry:
        return entry['coco_url'].rsplit('/', 1)[-1]
    raise DatasetError(f'LVIS image entry {entry.get("id")} has neither file_name nor coco_url')


def load_lvis(json_path: str | Path) -> list[LvisImage]:
    """Images of an LVIS json with their polygon instances (RLE-encoded instances are skipped with a warning)."""
    json_path = Path(json_path)
    if not json_path.is_file():
        raise DatasetError(f'LVIS annotation file {json_path} does not exist; expected <lvis_root>/lvis_v1_train.json')
    try:
        data = json.loads(json_path.read_text())
        images = {im['id']: im for im in data['images']}
        annotations = data['annotations']
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f'{json_path} is not an LVIS/COCO instances json ({e!r}); re-download it') from e
    per_image: dict[int, list[LvisInstance]] = {}
    rle = 0
    for ann in annotations:
        seg = ann.get('segmentation')
        if not isinstance(seg, list):
            rle += 1
            continue
        per_image.setdefault(ann['image_id'], []).append(
            LvisInstance(float(ann['area']), tuple(tuple(float(v) for v in poly) for poly in seg)))
    if rle:
        log.warning('%s: skipped %d RLE-encoded instances (only polygons are read)', json_path, rle)
    return [LvisImage(_file_name(images[i]), int(images[i]['height']), int(images[i]['width']), tuple(inst))
            for i, inst in sorted(per_image.items()) if i in images]


def rasterize(instance: LvisInstance, height: int, width: int) -> np.ndarray:
    """bool [H, W] mask of an instance's polygons."""
    canvas = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in instance.polygons:
        if len(poly) >= 6:
            draw.polygon(list(zip(poly[0::2], poly[1::2])), fill=1)
    return np.asarray(canvas) > 0
