"""Vectorised numpy simulation of the reference workload (see workload.py).

Exact integration over one step: with s constant-decaying, v(t + dt) = v e^{-dt/tau_m}
+ I_bg (1 - e^{-dt/tau_m}) + s * tau_s / (tau_s - tau_m) * (e^{-dt/tau_s} - e^{-dt/tau_m}).
Spikes emitted in step k reach s at the end of step k + round(delay / dt).
"""

import time

import numpy as np

import workload as wl


def main():
    args = wl.parse_args("numpy peer of the reference workload")
    start = time.perf_counter()
    w_pre_post, drive, v0 = wl.build_weights(args)
    n = w_pre_post.shape[0]
    dt = args.dt_ms
    decay_m = np.exp(-dt / wl.TAU_M_MS)
    decay_s = np.exp(-dt / wl.TAU_S_MS)
    s_to_v = wl.TAU_S_MS / (wl.TAU_S_MS - wl.TAU_M_MS) * (decay_s - decay_m)
    drive_step = drive * (1.0 - decay_m)
    delay_steps = int(round(wl.DELAY_MS / dt))
    ref_steps = int(round(wl.T_REF_MS / dt))
    ring = np.zeros((delay_steps + 1, n))
    v = v0.copy()
    s = np.zeros(n)
    refractory = np.zeros(n, dtype=np.int32)
    n_steps = int(round(args.duration_ms / dt))
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    spikes = 0
    for step in range(n_steps):
        active = refractory == 0
        v_next = v * decay_m + drive_step + s * s_to_v
        v = np.where(active, v_next, v)
        np.subtract(refractory, 1, out=refractory, where=~active)
        s *= decay_s
        slot = step % (delay_steps + 1)
        s += ring[slot]
        ring[slot] = 0.0
        fired = np.flatnonzero(v >= wl.V_THRESHOLD)
        if fired.size:
            spikes += fired.size
            v[fired] = wl.V_RESET
            refractory[fired] = ref_steps
            arrival = (step + delay_steps) % (delay_steps + 1)
            ring[arrival] += w_pre_post[fired].sum(axis=0)
    loop_s = time.perf_counter() - start
    wl.result_line("numpy", args, build_s, loop_s, spikes, numpy_version=np.__version__)


if __name__ == "__main__":
    main()
