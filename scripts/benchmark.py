"""Benchmark MiVOS inference (InferenceCore) on a synthetic clip: speed, memory, FLOP rate; optimised vs reference.
With --ritm: milliseconds per click of CiVOS's RITM click model (h18s, NoBRS and f-BRS-B)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel import AcceleratedBackend  # noqa: E402
from evaluation.benchmark import (build_networks, memory_probe, prepare_optimized, run_mode, run_s2m,  # noqa: E402
                                 summary_rows, synthetic_clip, user_path_memory, with_flops,
                                 write_synthetic_folder)
from evaluation.benchmark_ritm import PUBLISHED, random_h18s, time_clicks  # noqa: E402
from util.cli import resolve_device, run_main  # noqa: E402
from util.files import atomic_write_text, require_writable_dir  # noqa: E402

PHASES = ('first', 'fusion', 'session')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--size', default='240x432', help='frame size HxW (default 240x432; 480p = 480x854)')
    p.add_argument('--frames', type=int, default=30, help='clip length T')
    p.add_argument('--objects', default='1', help='comma-separated object counts K, e.g. 1,2')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    p.add_argument('--mode', choices=('both', 'optimized', 'reference'), default='both',
                   help='both = interleaved optimised and reference runs in one process (default)')
    p.add_argument('--reference', action='store_true', help='shorthand for --mode reference')
    p.add_argument('--phases', default=','.join(PHASES), help=f'subset of {",".join(PHASES)}')
    p.add_argument('--repeats', type=int, default=1, help='repetitions (mode order alternates)')
    p.add_argument('--cache-mb', type=float, default=None,
                   help='feature cache limit in MiB (default: 256 MiB optimised, 105 frames for the reference); '
                        'also applies to --memory-vs-t')
    p.add_argument('--memory-vs-t', metavar='T1,T2,...',
                   help='instead of timing: peak memory of a first + fusion pass for each T, frames streamed from '
                        'PNG files, each T in a fresh process (optimised mode unless --mode reference)')
    p.add_argument('--prob-storage', choices=('float32', 'uint16', 'disk'), default=None,
                   help='prob storage for --memory-vs-t (default: disk optimised, float32 reference)')
    p.add_argument('--memory-user-paths', metavar='T1,T2,...',
                   help='instead of timing: peak RSS of scripts/segment_video.py and eval_semi_davis.py on a generated '
                        'clip of each length T (--size, --objects; a light random propagation network), each run in '
                        'a fresh process')
    p.add_argument('--memory-probe', metavar='FOLDER', help=argparse.SUPPRESS)  # one --memory-vs-t measurement
    p.add_argument('--conv-algorithm', choices=('auto', 'winograd', 'direct'), default='auto',
                   help="optimised mode's 3x3 convs: auto = Winograd where timed faster at this size (default)")
    p.add_argument('--conv-timings', metavar='JSON',
                   help='keep the auto mode conv timings in this file and reuse them in later runs')
    p.add_argument('--no-flops', action='store_true',
                   help='skip the untimed FLOP-counting run of each mode (no GFLOP/s; a shorter warm-up instead)')
    p.add_argument('--no-s2m', action='store_true', help='skip the S2M timing')
    p.add_argument('--quick', action='store_true', help='tiny run (96x160, T=8, K=1, first+fusion) in < 1 minute')
    p.add_argument('--json', metavar='PATH', help="write results as JSON ('-' = stdout)")
    p.add_argument('--ritm', action='store_true',
                   help='instead: ms per click of the RITM h18s click model (random weights), NoBRS and f-BRS-B, '
                        'three clicks per session, --repeats sessions')
    p.add_argument('--ritm-sizes', default='240x432,480x854', help='frame sizes HxW for --ritm')
    args = p.parse_args(argv)
    if args.reference:
        args.mode = 'reference'
    if args.quick:
        args.size, args.frames, args.objects, args.phases = '96x160', 8, '1', 'first,fusion'
        args.ritm_sizes = '96x160'
    try:
        args.h, args.w = (int(v) for v in args.size.lower().split('x'))
        args.ritm_hw = [tuple(int(v) for v in s.lower().split('x')) for s in args.ritm_sizes.split(',')]
        if any(len(hw) != 2 for hw in args.ritm_hw):
            raise ValueError(args.ritm_sizes)
        args.ks = [int(k) for k in args.objects.split(',')]
    except ValueError:
        p.error(f'--size / --ritm-sizes must be HxW and --objects comma-separated integers, got {args.size!r} / '
                f'{args.ritm_sizes!r} / {args.objects!r}')
    args.phase_list = tuple(args.phases.split(','))
    try:
        args.memory_ts = [int(t) for t in args.memory_vs_t.split(',')] if args.memory_vs_t else []
        args.user_path_ts = [int(t) for t in args.memory_user_paths.split(',')] if args.memory_user_paths else []
    except ValueError:
        p.error(f'--memory-vs-t / --memory-user-paths must be comma-separated frame counts, got '
                f'{args.memory_vs_t or args.memory_user_paths!r}')
    if any(t < 3 for t in args.memory_ts + args.user_path_ts):
        p.error(f'--memory-vs-t / --memory-user-paths frame counts must be >= 3, got '
                f'{args.memory_ts + args.user_path_ts}')
    if bad := set(args.phase_list) - set(PHASES):
        p.error(f'unknown phases {sorted(bad)}; choose from {PHASES}')
    if args.frames < 3:
        p.error(f'--frames must be >= 3, got {args.frames}')
    if min(args.h, args.w) < 16 or min(args.ks) < 1 or args.threads < 1 or args.repeats < 1:
        p.error('--size must be at least 16x16, --objects, --threads and --repeats at least 1')
    if args.cache_mb is not None and not args.cache_mb >= 0:
        p.error(f'--cache-mb must be >= 0, got {args.cache_mb}')
    return args


def print_table(rows: list[dict]) -> None:
    print(f'{"mode":10} {"phase":8} {"K":>2} {"frames":>6} {"ms/frame":>9} {"ms/f/obj":>9} {"FPS":>6} '
          f'{"GFLOP/s":>8} {"peak MB":>8} {"MB/frame":>9} {"speedup":>7} {"cpu-speedup":>11}')
    for r in rows:
        speed = f'{r["speedup_vs_reference"]:.2f}x' if 'speedup_vs_reference' in r else ''
        cpu = f'{r["cpu_speedup_vs_reference"]:.2f}x' if 'cpu_speedup_vs_reference' in r else ''
        print(f'{r["mode"]:10} {r["phase"]:8} {r["k"]:>2} {r["frames"]:>6} {r["ms_per_frame"]:>9.1f} '
              f'{r["ms_per_frame_per_object"]:>9.1f} {1000 / r["ms_per_frame"]:>6.2f} {r["gflops"]:>8.1f} '
              f'{r["peak_mb"]:>8.0f} {r["growth_mb_per_frame"]:>9.2f} {speed:>7} {cpu:>11}')


def memory_vs_t(args: argparse.Namespace) -> list[dict]:
    """Peak memory for each T (and K): a fresh process per measurement, so that no run inherits another's heap."""
    mode = 'reference' if args.mode == 'reference' else 'optimized'
    rows = []
    for k in args.ks:
        for t in args.memory_ts:
            with tempfile.TemporaryDirectory() as tmp:
                write_synthetic_folder(Path(tmp), t, args.h, args.w, k)
                cmd = [sys.executable, __file__, '--memory-probe', tmp, '--objects', str(k), '--mode', mode,
                       '--threads', str(args.threads), '--device', args.device]
                if args.prob_storage:
                    cmd += ['--prob-storage', args.prob_storage]
                if args.cache_mb is not None:
                    cmd += ['--cache-mb', str(args.cache_mb)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f'peak memory (process high-water mark, MiB) of a first + fusion pass, frames streamed from disk, '
          f'threads {args.threads}')
    print(f'{"mode":10} {"prob":>7} {"size":>8} {"K":>2} {"T":>5} {"baseline":>9} {"1st pass":>9} {"peak":>7} {"vs first T":>10} '
          f'{"prob MB":>7} {"masks":>6} {"cache":>6} {"s":>6}')
    for r in rows:
        first = next(x for x in rows if x['k'] == r['k'])
        r['peak_vs_first_t'] = r['peak_mb'] / first['peak_mb']
        print(f'{r["mode"]:10} {r["prob_storage"]:>7} {r["size"]:>8} {r["k"]:>2} {r["t"]:>5} {r["baseline_peak_mb"]:>9.0f} '
              f'{r["first_pass_peak_mb"]:>9.0f} {r["peak_mb"]:>7.0f} {r["peak_vs_first_t"]:>9.2f}x '
              f'{r["prob_mb"]:>7.0f} {r["masks_mb"]:>6.0f} {r["feature_cache_mb"]:>6.0f} {r["seconds"]:>6.0f}')
    return rows


def memory_user_paths(args: argparse.Namespace) -> list[dict]:
    """Peak RSS of the two streaming user paths for each T (and K), each script in a fresh process."""
    rows = []
    for k in args.ks:
        for t in args.user_path_ts:
            with tempfile.TemporaryDirectory() as tmp:
                rows += user_path_memory(Path(tmp), t, args.h, args.w, k, args.threads)
    print(f'peak RSS (MiB) of the user paths on a generated clip, light random propagation network, '
          f'threads {args.threads}')
    print(f'{"script":16} {"size":>8} {"K":>2} {"T":>5} {"peak MB":>8} {"vs first T":>10} {"s":>6}')
    for r in rows:
        first = next(x for x in rows if x['k'] == r['k'] and x['script'] == r['script'])
        r['peak_vs_first_t'] = r['peak_mb'] / first['peak_mb']
        print(f'{r["script"]:16} {r["size"]:>8} {r["k"]:>2} {r["t"]:>5} {r["peak_mb"]:>8.0f} '
              f'{r["peak_vs_first_t"]:>9.2f}x {r["seconds"]:>6.0f}')
    return rows


def ritm_clicks(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """ms per click of the RITM predictor at each size, NoBRS and f-BRS-B, after one untimed warm-up session."""
    net = random_h18s(device)
    rows = []
    for h, w in args.ritm_hw:
        for mode in ('NoBRS', 'f-BRS-B'):
            time_clicks(net, mode, h, w)
            rows.append(dataclasses.asdict(time_clicks(net, mode, h, w, sessions=args.repeats)))
    print(f'RITM h18s click predictor (zoom-in, flip), random weights, threads {args.threads}, device {device}, '
          f'median of {args.repeats} session(s) of 3 clicks')
    print(f'{"mode":8} {"size":>8} {"click 1 ms":>10} {"clicks 2-3 ms":>13} {"ms/click":>9} {"CPU ms/click":>12} '
          f'{"backbone/click":>14} {"head/click":>10}')
    for r in rows:
        print(f'{r["mode"]:8} {r["size"]:>8} {r["first_click_ms"]:>10.0f} {r["later_click_ms"]:>13.0f} '
              f'{r["ms_per_click"]:>9.0f} {r["cpu_ms_per_click"]:>12.0f} {r["backbone_passes_per_click"]:>14.1f} '
              f'{r["head_passes_per_click"]:>10.1f}')
    print(f'note: {PUBLISHED}')
    return rows


def write_json(args: argparse.Namespace, rows: list[dict]) -> None:
    config = {k: v for k, v in vars(args).items() if k not in ('phase_list', 'ritm_hw')}
    text = json.dumps({'config': config, 'results': rows},
                      indent=1)
    if args.json == '-':
        print(text)
    else:
        atomic_write_text(args.json, text)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.json and args.json != '-':
        require_writable_dir(Path(args.json).resolve().parent, '--json folder')
    torch.set_num_threads(args.threads)
    if args.memory_probe:
        row = memory_probe(Path(args.memory_probe), args.ks[0], device,
                           mode='reference' if args.mode == 'reference' else 'optimized',
                           prob_storage=args.prob_storage,
                           cache_bytes=None if args.cache_mb is None else int(args.cache_mb * 2**20))
        print(json.dumps(row))
        return [row]
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.ritm:
        rows = ritm_clicks(args, device)
        if args.json:
            write_json(args, rows)
        return rows
    if args.memory_ts or args.user_path_ts:
        rows = memory_vs_t(args) if args.memory_ts else memory_user_paths(args)
        if args.json:
            write_json(args, rows)
        return rows
    nets = build_networks(device)
    modes = ['optimized', 'reference'] if args.mode == 'both' else [args.mode]
    cache = None if args.cache_mb is None else int(args.cache_mb * 2**20)
    results = []
    backend = AcceleratedBackend(args.conv_algorithm, args.conv_timings)
    if 'optimized' in modes:
        fast, seconds = prepare_optimized(backend, nets[0], args.h, args.w)
        encoders = 'oneDNN, weights pre-reordered, ReLU / residual fused' if fast.packed_encoders else 'plain convs'
        print(f'conv algorithm {args.conv_algorithm}: {fast.winograd_convs} convs run with Winograd F(4x4,3x3); '
              f'encoders: {encoders} (prepared in {seconds:.1f} s, once per backend and video size, '
              f'{backend.timings.timed} conv shapes timed)')
    for k in args.ks:
        frames, labels = synthetic_clip(args.frames, args.h, args.w, k)
        counted = []  # also the warm-up: kernel selection and allocator growth are not part of the timing
        for mode in modes:
            if args.no_flops:
                run_mode(mode, nets, frames[:3], labels[:3], k, device, cache, ('first', 'fusion'), backend)
            else:
                counted += run_mode(mode, nets, frames, labels, k, device, cache, args.phase_list, backend,
                                    count_flops=True)
        timed = []
        for rep in range(args.repeats):
            for mode in (modes if rep % 2 == 0 else modes[::-1]):
                timed += run_mode(mode, nets, frames, labels, k, device, cache, args.phase_list, backend)
        results += with_flops(timed, counted)
        if not args.no_s2m:
            s2m = run_s2m(frames, k, device)
            if s2m is None:
                print('note: S2M timing skipped (model.s2m.S2M not importable yet)')
            else:
                results.append(s2m)
    rows = summary_rows(results)
    print(f'size {args.h}x{args.w}, T={args.frames}, threads {args.threads}, device {device} '
          '(speed-ups: optimised vs the median reference of the same phase and K; wall and CPU time)')
    print_table(rows)
    if args.json:
        write_json(args, rows)
    return rows


if __name__ == '__main__':
    run_main(main)
