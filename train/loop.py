"""The one training loop shared by the propagation, S2M and fusion trainers (docs/mivos.md).

Adam (weight decay 1e-7) + MultiStepLR stepped every iteration, bootstrapped CE inside each trainer's module,
optional AMP on CUDA, DDP when launched by torchrun, rank-0 tensorboard / tqdm / checkpoints, exact resume.
"""
from __future__ import annotations

import bisect
import collections
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm import tqdm

from train.checkpoint import git_commit, library_versions, read_training_checkpoint, rng_state, save_atomic, \
    set_rng_state
from train.distributed import DistEnv, all_reduce_mean
from train.logger import TrainLogger
from train.sampling import batches_per_epoch, make_loader, start_epoch
from util.files import require_writable_dir
from util.image_io import DatasetError
from util.weights import load_weights

log = logging.getLogger(__name__)


class TrainModule(nn.Module):
    """A trainer's model wrapper: `network` is what gets saved; forward(batch, it) returns at least
    'loss' (scalar to minimise), 'iou' and 'p' (bootstrapping fraction); image_grid() renders a batch."""

    network: nn.Module
    model_kwargs: dict

    def forward(self, batch: dict, it: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def image_grid(self, batch: dict, out: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class Task:
    """What a trainer hands to the loop: its module, its data and (for videos) the max-skip setter."""
    module: TrainModule
    dataset: Dataset
    set_max_skip: Callable[[int], None] | None = None


def max_skip_for_epoch(curriculum: dict, epoch: int, total_epochs: int) -> int:
    """J = max_skip[0], then max_skip[i] once epoch >= round(E * at[i-1]) (docs/mivos.md)."""
    skip = curriculum['max_skip'][0]
    for frac, value in zip(curriculum['at'], curriculum['max_skip'][1:]):
        if epoch >= round(total_epochs * frac):
            skip = value
    return skip


def empty_targets(batch: dict) -> int:
    """Samples of a batch whose ground truth 'gt' [B, ...] has no object pixel (0 when it has no 'gt')."""
    gt = batch.get('gt') if isinstance(batch, dict) else None
    return int((gt.flatten(1).amax(1) <= 0).sum()) if isinstance(gt, torch.Tensor) else 0


def to_device(batch, device: torch.device):
    """Move every tensor of a (nested) batch to device; other values stay as they are."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class TrainingDiverged(ValueError):
    """A non-finite loss or gradient: the run stops before the update, the last saved checkpoint stays good."""


def run_dir_for(cfg: dict, resume: str | None) -> Path | None:
    """saves/<date>_<id>/, the folder of the resumed checkpoint, or None for `--id NULL`."""
    run_id = cfg['log']['id']
    if run_id in (None, 'NULL'):
        return None
    if resume:
        return Path(resume).resolve().parent
    return Path(cfg['log']['save_dir']) / f'{time.strftime("%Y-%m-%d_%H.%M.%S")}_{run_id}'


def claim_run_dir(folder: Path, resume: bool) -> Path:
    """Create a new run folder (folder, else folder_2, folder_3, ...: runs started in the same second with the
    same id never share one) or, when resuming, check the existing one; either way check that it is writable."""
    if not resume:
        require_writable_dir(folder.parent, 'save folder (--save-dir)')
        for n in itertools.count(1):
            candidate = folder if n == 1 else folder.with_name(f'{folder.name}_{n}')
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            folder = candidate
            break
    return require_writable_dir(folder, 'run folder')


class Trainer:
    """Builds the optimiser state around a Task and runs iterations [start, train.iterations)."""

    def __init__(self, task: Task, cfg: dict, env: DistEnv, resume: str | None = None):
        self.task, self.cfg, self.env = task, cfg, env
        tcfg = cfg['train']
        if tcfg['batch_size'] % env.world_size:
            raise ValueError(f'train.batch_size {tcfg["batch_size"]} (global) is not divisible by the '
                             f'{env.world_size} processes')
        self.batch = tcfg['batch_size'] // env.world_size
        self.iterations = tcfg['iterations']
        self.module = task.module.to(env.device)
        self.model = self.module
        if env.distributed:
            self.model = DistributedDataParallel(
                self.module, device_ids=[env.device.index] if env.device.type == 'cuda' else None,
                forward_sync_buffers=False)  # BN buffers are never synchronised (docs/mivos.md)
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=tcfg['lr'], weight_decay=tcfg['weight_decay'])
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, tcfg['steps'], tcfg['gamma'])
        self.amp = bool(tcfg['amp']) and env.device.type == 'cuda'
        if tcfg['amp'] and not self.amp:
            log.warning('train.amp is only used on CUDA; training in fp32 on %s', env.device)
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.amp)
        self.loader, self.sampler = make_loader(task.dataset, env, self.batch, cfg['data']['num_workers'],
                                                tcfg['seed'], cfg['data']['sample_seeding'])
        self.per_epoch = batches_per_epoch(self.sampler, self.batch)
        self.total_epochs = math.ceil(self.iterations / self.per_epoch)
        self.it = 0
        self.targets_seen, self.targets_empty = 0, 0.0  # samples (per process) since this process started
        self.max_skip: int | None = None
        if resume:
            self._resume(resume)
        self.run_dir = run_dir_for(cfg, resume)
        if self.run_dir is not None and env.is_main:
            self.run_dir = claim_run_dir(self.run_dir, bool(resume))
        self.logger = TrainLogger(self.run_dir, env)
        self.run_id = cfg['log']['id']

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _resume(self, path: str) -> None:
        ckpt = read_training_checkpoint(path, self.cfg['trainer'], self.module.model_kwargs)
        load_weights(self.module.network, ckpt['network'])
        self.optimizer.load_state_dict(ckpt['optimizer'])
        self.scheduler.load_state_dict(ckpt['scheduler'])
        if 'scaler' in ckpt:
            self.scaler.load_state_dict(ckpt['scaler'])
        set_rng_state(ckpt['rng'])
        self.it = ckpt['it']
        self._apply_schedule_changes(ckpt['config']['train'], path)
        if ckpt['curriculum'].get('batches_per_epoch') not in (None, self.per_epoch):
            log.warning('%s had %s batches per epoch, this run has %d (other data or process count): the '
                        'data order and max-skip curriculum continue on the new epoch grid',
                        path, ckpt['curriculum']['batches_per_epoch'], self.per_epoch)
        log.info('resumed from %s at iteration %d', path, self.it)
        if self.it >= self.iterations:
            log.warning('%s is already at iteration %d of train.iterations %d: nothing left to train (raise -i to '
                        'train longer)', path, self.it, self.iterations)

    def _apply_schedule_changes(self, saved: dict, path: str) -> None:
        """Settings changed on the --resume command line (train.lr / steps / gamma) replace the restored
        optimiser and scheduler values explicitly, and are logged; the lr follows the new schedule from here on."""
        tcfg = self.cfg['train']
        changed = [k for k in ('lr', 'steps', 'gamma') if saved.get(k) != tcfg[k]]
        if not changed:
            return
        self.scheduler.milestones = collections.Counter(tcfg['steps'])
        self.scheduler.gamma = tcfg['gamma']
        passed = bisect.bisect_right(sorted(tcfg['steps']), self.scheduler.last_epoch)
        lr = tcfg['lr'] * tcfg['gamma'] ** passed
        self.scheduler.base_lrs = [tcfg['lr']] * len(self.optimizer.param_groups)
        for group in self.optimizer.param_groups:
            group['initial_lr'], group['lr'] = tcfg['lr'], lr
        self.scheduler._last_lr = [lr] * len(self.optimizer.param_groups)
        log.warning('--resume changes %s of %s: %s; the learning rate is now %g at iteration %d',
                    ', '.join(f'train.{k}' for k in changed), path,
                    ', '.join(f'{k} {saved.get(k)!r} -> {tcfg[k]!r}' for k in changed), lr, self.it)

    def _payload(self, full: bool) -> dict:
        obj = {'network': self.module.network.state_dict(), 'model_kwargs': self.module.model_kwargs,
               'config': self.cfg, 'it': self.it, 'world_size': self.env.world_size,
               'git': git_commit(), 'versions': library_versions()}
        if full:
            obj.update(optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                       scaler=self.scaler.state_dict(), rng=rng_state(),
                       curriculum={'epoch': self.it // self.per_epoch, 'max_skip': self.max_skip,
                                   'batches_per_epoch': self.per_epoch})
        return obj

    def save(self) -> None:
        """<id>_<it>.pth (weights + provenance) and <id>_checkpoint.pth (everything --resume needs); rank 0.
        Non-finite weights are never written: the last good checkpoint stays."""
        if self.run_dir is None or not self.env.is_main:
            return
        bad = [k for k, v in self.module.network.state_dict().items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise TrainingDiverged(f'the weights hold NaN/inf after iteration {self.it} ({bad[:3]}); not saved, '
                                   f'the last checkpoint in {self.run_dir} is kept. Lower the learning rate (--lr)')
        save_atomic(self._payload(full=False), self.run_dir / f'{self.run_id}_{self.it}.pth')
        save_atomic(self._payload(full=True), self.run_dir / f'{self.run_id}_checkpoint.pth')
        log.info('saved iteration %d to %s', self.it, self.run_dir)

    # -- the loop ------------------------------------------------------------------------------------------
    def _set_epoch(self, epoch: int, start_batch: int) -> None:
        curriculum = self.cfg.get('curriculum')
        if curriculum and self.task.set_max_skip is not None:
            skip = max_skip_for_epoch(curriculum, epoch, self.total_epochs)
            if skip != self.max_skip:
                log.info('epoch %d: max skip %d', epoch, skip)
            self.max_skip = skip
            self.task.set_max_skip(skip)
        start_epoch(self.loader, self.sampler, epoch, start_batch)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step at iteration self.it on a batch already on the device."""
        with torch.autocast(device_type=self.env.device.type, enabled=self.amp):
            out = self.model(batch, self.it)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out['loss']).backward()
        self._check_finite(out['loss'])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return out

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop before the update when the loss or (fp32) a gradient is NaN/inf on any process; under AMP the
        GradScaler skips steps with inf gradients by design, so only the loss is checked there."""
        bad = ~torch.isfinite(loss.detach().float())
        grads = [p.grad for p in self.module.parameters() if p.grad is not None]
        if not self.amp and grads:
            bad = bad | ~torch.isfinite(torch.stack(torch._foreach_norm(grads)).sum())
        bad = all_reduce_mean(bad.float().reshape(1), self.env).item() > 0
        if bad:
            saved = f'the last checkpoint in {self.run_dir} is kept' if self.run_dir else 'nothing was saved'
            raise TrainingDiverged(
                f'non-finite loss or gradient (loss {loss.item():g}) at iteration {self.it + 1} with lr '
                f'{self.scheduler.get_last_lr()[0]:g}; training stopped before the update and {saved}. Lower the '
                'learning rate (--lr) or check the data, then start again or --resume from the last checkpoint')

    def _check_targets(self, mean_empty: float, iterations: int) -> None:
        """Report samples whose target has no object pixels (mean_empty per iteration and process over the last
        `iterations`); if every one of the first >= 8 samples had none, the masks are being read as background
        (training would report IoU 1 on nothing), so stop."""
        self.targets_seen += self.batch * iterations
        self.targets_empty += mean_empty * iterations
        if self.targets_empty >= self.targets_seen >= 8:
            raise DatasetError(f'every one of the first {self.targets_seen} training samples has an empty target '
                               '(no object pixels): the masks are read as background. Check the mask files '
                               '(palette or greyscale PNGs of object ids, 0 = background)')
        if mean_empty > 0:
            log.warning('%.1f%% of the samples of iterations %d..%d had an empty target (no object pixels)',
                        100 * mean_empty / self.batch, self.it - iterations + 1, self.it)

    def run(self, stop_at: int | None = None) -> dict[str, float]:
        """Train until train.iterations (or stop and save at iteration stop_at, e.g. before a job's time limit;
        --resume then continues as if never stopped); returns the last reported scalar means."""
        lcfg = self.cfg['log']
        end = self.iterations if stop_at is None else min(stop_at, self.iterations)
        self.model.train()
        last: dict[str, float] = {}
        bar = tqdm(total=self.iterations, initial=self.it, disable=not self.env.is_main, desc=self.run_id)
        epoch, start_batch = divmod(self.it, self.per_epoch)
        reported = self.it
        while self.it < end:
            self._set_epoch(epoch, start_batch)
            for batch in self.loader:
                lr = self.scheduler.get_last_lr()[0]
                batch = to_device(batch, self.env.device)
                out = self.step(batch)
                self.it += 1
                bar.update(1)
                self.logger.accumulate({'loss': out['loss'].item(), 'iou': out['iou'].item(),
                                        'p': float(out['p']), 'lr': lr, 'empty_targets': empty_targets(batch)})
                if self.it % lcfg['report_interval'] == 0 or self.it == end:
                    last = self.logger.report(self.it)
                    self._check_targets(last.pop('empty_targets'), self.it - reported)
                    reported = self.it
                    bar.set_postfix(loss=f'{last["loss"]:.4f}', iou=f'{last["iou"]:.3f}')
                if self.it % lcfg['image_interval'] == 0 and self.env.is_main:
                    with torch.no_grad():
                        self.logger.images('train/images', self.module.image_grid(batch, out), self.it)
                if self.it % lcfg['save_interval'] == 0 or self.it == end:
                    self.save()
                if self.it >= end:
                    break
            epoch, start_batch = epoch + 1, 0
        bar.close()
        self.logger.close()
        return last
