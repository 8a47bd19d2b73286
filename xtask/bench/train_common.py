"""Shared parts of the training peers of `cargo xtask bench train`.

The workload is an Euler-discretised continuous-time RNN trained by backpropagation through time:

    x[t+1] = x[t] + 0.1 (-x[t] + W logistic(x[t]) + U u[t] + b),  x[0] = 0
    y[t]   = w_out . logistic(x[t+1]) + b_out

with the mean squared error of y against the target over all steps and trials, the global
gradient norm clipped to 1.0 and Adam (beta1 0.9, beta2 0.999, eps 1e-8). Iteration i trains on
batch i mod 8. The weights and batches come from the folder `rnn-core`'s example writes with
`--dump-dir`, so every tool starts from the same point.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

ALPHA = 0.1
CLIP_NORM = 1.0
BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8


def parse_args(tool_help):
    parser = argparse.ArgumentParser(description=tool_help)
    parser.add_argument("--dump-dir", required=True, help="folder written by latch_bptt --dump-dir")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations")
    parser.add_argument("--threads", type=int, default=1, help="threads (0: the tool's default)")
    parser.add_argument("--precision", choices=["f32", "f64"], default="f32")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    parser.add_argument("--target-loss", type=float, help="train until the loss is at or below this")
    parser.add_argument("--max-iters", type=int, default=2000, help="limit with --target-loss")
    args = parser.parse_args()
    if args.iters < 1 or args.max_iters < 1:
        parser.error("--iters and --max-iters must be at least 1")
    return args


def load_dump(folder, dtype):
    """Loads the parameters and the 8 batches; returns (params dict, inputs, targets)."""
    def load(name):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise SystemExit(f"missing {path}: run latch_bptt with --dump-dir {folder} first")
        return np.load(path).astype(dtype)

    params = {
        "W": load("W.npy"),
        "U": load("U.npy"),
        "b": load("b.npy").reshape(-1),
        "w_out": load("w_out.npy").reshape(-1),
        "b_out": load("b_out.npy").reshape(1),
    }
    inputs = load("inputs.npy")
    targets = load("targets.npy")
    n = params["W"].shape[0]
    if inputs.ndim != 4 or targets.ndim != 4 or inputs.shape[:3] != targets.shape[:3]:
        raise SystemExit(
            f"invalid batches in {folder}: inputs {inputs.shape} and targets {targets.shape} "
            "must be (batches, steps, batch, inputs) and (batches, steps, batch, 1)"
        )
    if params["U"].shape != (n, inputs.shape[3]):
        raise SystemExit(f"invalid U.npy in {folder}: shape {params['U'].shape}")
    return params, inputs, targets


def run_iterations(args, step):
    """Runs `step(i) -> loss` and returns the result fields shared by every peer.

    Without --target-loss it runs --iters iterations and times each. With it, it runs until the
    loss of an iteration (computed before that iteration's update) is at or below the target,
    or --max-iters iterations.
    """
    times_ms = []
    losses = []
    iters_to_target = None
    started = time.perf_counter()
    time_to_target_s = None
    limit = args.max_iters if args.target_loss is not None else args.iters
    for i in range(limit):
        t0 = time.perf_counter()
        loss = float(step(i))
        times_ms.append((time.perf_counter() - t0) * 1e3)
        losses.append(loss)
        if not np.isfinite(loss):
            raise SystemExit(f"loss became {loss} at iteration {i}")
        if args.target_loss is not None and loss <= args.target_loss:
            iters_to_target = i + 1
            time_to_target_s = time.perf_counter() - started
            break
    return {
        "iter_ms_median": statistics.median(times_ms),
        "iter_ms_min": min(times_ms),
        "iters": len(times_ms),
        "iters_to_target": iters_to_target,
        "time_to_target_s": time_to_target_s,
        "first_loss": losses[0],
        "final_loss": losses[-1],
    }


def print_result(tool, args, params, inputs, threads, fields, **extra):
    record = {
        "tool": tool,
        "n": int(params["W"].shape[0]),
        "batch": int(inputs.shape[2]),
        "steps": int(inputs.shape[1]),
        "threads": threads,
        "precision": args.precision,
    }
    record.update(fields)
    record.update(extra)
    print(json.dumps(record))
    sys.stdout.flush()
