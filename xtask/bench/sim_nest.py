"""NEST 3 simulation of the reference workload (see workload.py) with `iaf_psc_exp`,
single-threaded.

NEST integrates C_m dV/dt = -(C_m / tau_m) V + I_syn + I_e with currents in pA. Multiplying the
workload's equation by C_m / tau_m maps it exactly: I_e = I_bg C_m / tau_m and a weight w becomes
w C_m / tau_m pA (E_L = 0, so V in mV equals the workload's potential). Negative weights act
through tau_syn_in, which equals tau_syn_ex.
"""

import time

import numpy as np

import workload as wl

C_M_PF = 250.0


def main():
    args = wl.parse_args("NEST peer of the reference workload")
    started = time.perf_counter()
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus(
        {
            "resolution": args.dt_ms,
            "local_num_threads": args.threads,
            "rng_seed": args.seed,
            "print_time": False,
        }
    )
    w_pre_post, drive, v0 = wl.build_weights(args)
    n = drive.size
    current_scale = C_M_PF / wl.TAU_M_MS
    neurons = nest.Create(
        "iaf_psc_exp",
        n,
        params={
            "C_m": C_M_PF,
            "tau_m": wl.TAU_M_MS,
            "t_ref": wl.T_REF_MS,
            "E_L": 0.0,
            "V_th": wl.V_THRESHOLD,
            "V_reset": wl.V_RESET,
            "tau_syn_ex": wl.TAU_S_MS,
            "tau_syn_in": wl.TAU_S_MS,
        },
    )
    neurons.set(I_e=(drive * current_scale).tolist(), V_m=v0.tolist())
    # all_to_all takes a (n_post, n_pre) weight array.
    weights_pa = np.ascontiguousarray(w_pre_post.T) * current_scale
    del w_pre_post
    nest.Connect(
        neurons,
        neurons,
        conn_spec={"rule": "all_to_all", "allow_autapses": True},
        syn_spec={"synapse_model": "static_synapse", "weight": weights_pa, "delay": wl.DELAY_MS},
    )
    del weights_pa
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    nest.Prepare()
    build_s = time.perf_counter() - started

    loop_start = time.perf_counter()
    nest.Run(args.duration_ms)
    loop_s = time.perf_counter() - loop_start
    nest.Cleanup()
    spikes = int(recorder.n_events)
    wl.result_line(
        "nest",
        args,
        build_s,
        loop_s,
        spikes,
        nest_version=nest.__version__,
        numpy_version=np.__version__,
    )


if __name__ == "__main__":
    main()
