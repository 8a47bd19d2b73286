"""Brian2 simulation of the reference workload (see workload.py), in runtime mode (Cython code
generation) or as C++ standalone, single-threaded.

`loop_s` is the time of the simulation loop alone: in runtime mode the second of two `run` calls
(the first, of zero duration, generates and compiles the code); in standalone mode the run time
the generated program measures itself. `build_s` is the rest of the process: weights, code
generation, compilation and, in standalone mode, loading the weights.
"""

import os
import tempfile
import time

import numpy as np

import workload as wl


def main():
    args = wl.parse_args("Brian2 peer of the reference workload")
    mode = os.environ.get("BENCH_BRIAN2_MODE", "runtime")
    if mode not in ("runtime", "standalone"):
        raise SystemExit(f"invalid BENCH_BRIAN2_MODE {mode!r}: use runtime or standalone")
    started = time.perf_counter()
    import brian2 as b2

    b2.prefs.logging.console_log_level = "WARNING"
    workdir = None
    if mode == "standalone":
        workdir = tempfile.mkdtemp(prefix="bench-brian2-")
        b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = args.dt_ms * b2.ms

    w_pre_post, drive, v0 = wl.build_weights(args)
    n = drive.size
    tau_m = wl.TAU_M_MS * b2.ms
    tau_s = wl.TAU_S_MS * b2.ms
    equations = """
    dv/dt = (-v + I_bg + s) / tau_m : 1 (unless refractory)
    ds/dt = -s / tau_s : 1
    I_bg : 1 (constant)
    """
    group = b2.NeuronGroup(
        n,
        equations,
        threshold=f"v >= {wl.V_THRESHOLD}",
        reset=f"v = {wl.V_RESET}",
        refractory=wl.T_REF_MS * b2.ms,
        method="exact",
        namespace={"tau_m": tau_m, "tau_s": tau_s},
    )
    group.I_bg = drive
    group.v = v0
    synapses = b2.Synapses(group, group, "w : 1", on_pre="s_post += w")
    # Full connection without a condition creates the synapses presynaptic-major: synapse
    # k = j * n + i connects j -> i, the order of w_pre_post.ravel().
    synapses.connect()
    synapses.w = w_pre_post.ravel()
    synapses.delay = wl.DELAY_MS * b2.ms
    del w_pre_post
    monitor = b2.SpikeMonitor(group, record=False)
    network = b2.Network(group, synapses, monitor)
    duration = args.duration_ms * b2.ms

    if mode == "standalone":
        network.run(duration)
        b2.device.build(directory=workdir, compile=True, run=True, with_output=False)
        loop_s = float(b2.device._last_run_time)
        spikes = int(monitor.num_spikes)
    else:
        network.run(0 * b2.ms)
        loop_start = time.perf_counter()
        network.run(duration)
        loop_s = time.perf_counter() - loop_start
        spikes = int(monitor.num_spikes)
    build_s = time.perf_counter() - started - loop_s
    wl.result_line(
        f"brian2-{mode}",
        args,
        build_s,
        loop_s,
        spikes,
        brian2_version=b2.__version__,
        numpy_version=np.__version__,
    )


if __name__ == "__main__":
    main()
