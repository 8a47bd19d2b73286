"""Reference workload of `cargo xtask bench sim`, shared by the Python peers.

P populations of M leaky integrate-and-fire neurons, all-to-all (self-connections included):

    tau_m dv/dt = -v + I_bg + s        tau_s ds/dt = -s

A spike of neuron j adds w_ij to s of neuron i after a delay of 2 ms. The neuron spikes when
v >= 20, resets to 0 and is held there for 2 ms. The weight from neuron j of population b onto
neuron i of population a is Wpop[a, b] / M * (1 + 0.2 xi_ij), with Wpop ~ N(0, 4^2) and
xi_ij ~ N(0, 1). The drive I_bg ~ U[20.5, 28] and the initial potential ~ U[0, 20] are drawn
per neuron.

The harness writes Wpop, I_bg and the initial potentials into a JSON file (`--network`) so that
every tool simulates the same network; each peer draws xi itself from `--seed` with numpy (a new
xi draw moves the spike total of the M = 50 network by about 0.1 %, a new Wpop draw by about
5 %). Each peer prints one JSON line with `result_line`.
"""

import argparse
import json
import sys

import numpy as np

P = 20
TAU_M_MS = 20.0
TAU_S_MS = 5.0
V_THRESHOLD = 20.0
V_RESET = 0.0
T_REF_MS = 2.0
DELAY_MS = 2.0
XI_SCALE = 0.2


def parse_args(tool_help):
    parser = argparse.ArgumentParser(description=tool_help)
    parser.add_argument("--m", type=int, required=True, help="neurons per population")
    parser.add_argument("--network", required=True, help="JSON file with wpop, drive and v0")
    parser.add_argument("--seed", type=int, default=1, help="seed of the xi draw")
    parser.add_argument("--duration-ms", type=float, default=2000.0, help="simulated time in ms")
    parser.add_argument("--dt-ms", type=float, default=0.1, help="time step in ms")
    parser.add_argument("--threads", type=int, default=1, help="threads the tool may use")
    args = parser.parse_args()
    if args.m < 1:
        parser.error(f"invalid --m {args.m}: give at least 1 neuron per population")
    if not (args.dt_ms > 0.0 and args.duration_ms > 0.0):
        parser.error("--dt-ms and --duration-ms must be positive")
    return args


def load_network(path, m):
    """Loads (wpop, drive, v0) written by the harness and checks their shapes against M."""
    with open(path, encoding="utf-8") as file:
        network = json.load(file)
    wpop = np.asarray(network["wpop"], dtype=np.float64)
    drive = np.asarray(network["drive"], dtype=np.float64)
    v0 = np.asarray(network["v0"], dtype=np.float64)
    n = P * m
    if wpop.shape != (P, P) or drive.shape != (n,) or v0.shape != (n,):
        raise SystemExit(
            f"invalid network file {path}: expected wpop ({P}, {P}), drive and v0 ({n},) "
            f"for --m {m}, found {wpop.shape}, {drive.shape}, {v0.shape}"
        )
    return wpop, drive, v0


def build_weights(args, dtype=np.float64):
    """Returns (w_pre_post, drive, v0) with w_pre_post[j, i] = w_ij, the weight j -> i.

    The matrix is stored presynaptic-major so that the weights of one spike are contiguous.
    """
    m = args.m
    wpop, drive, v0 = load_network(args.network, m)
    rng = np.random.default_rng(args.seed)
    n = P * m
    w_pre_post = np.empty((n, n), dtype=dtype)
    for b in range(P):
        rows = slice(b * m, (b + 1) * m)
        # xi is drawn one presynaptic population at a time to bound the temporary memory.
        xi = rng.standard_normal(size=(m, n))
        # Block (j in b, i in a) gets Wpop[a, b] / M.
        scale = np.repeat(wpop[:, b] / m, m)[np.newaxis, :]
        w_pre_post[rows, :] = scale * (1.0 + XI_SCALE * xi)
    return w_pre_post, drive, v0


def result_line(tool, args, build_s, loop_s, spikes, **extra):
    n = P * args.m
    duration_s = args.duration_ms / 1000.0
    record = {
        "tool": tool,
        "m": args.m,
        "threads": args.threads,
        "build_s": build_s,
        "loop_s": loop_s,
        "spikes": int(spikes),
        "mean_rate_hz": spikes / n / duration_s,
        "synaptic_events": int(spikes) * n,
        "neurons": n,
        "synapses": n * n,
    }
    record.update(extra)
    print(json.dumps(record))
    sys.stdout.flush()
