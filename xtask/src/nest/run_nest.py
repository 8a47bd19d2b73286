
import argparse
import json
import os
import sys
import time

import numpy as np
import nest

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    return np.load(os.path.join(HERE, name))


def neuron_params(pop, h):
    """Returns the NEST parameter dictionary of one population."""
    params = {
        "C_m": pop["c_m_pf"],
        "tau_m": pop["tau_m_ms"],
        "t_ref": pop["t_ref_ms"],
        "E_L": pop["e_l_mv"],
        "V_reset": pop["v_reset_mv"],
        "V_th": pop["v_th_mv"],
        "I_e": pop["i_e_pa"],
    }
    synapse = pop["synapse"]
    if "Exp" in synapse:
        tau = synapse["Exp"]["tau_syn_ms"]
        params.update({"tau_syn_ex": tau, "tau_syn_in": tau})
    elif "ExpMultisynapse" in synapse:
        params["tau_syn"] = list(synapse["ExpMultisynapse"]["tau_syn_ms"])
    elif "Alpha" in synapse:
        tau = synapse["Alpha"]["tau_syn_ms"]
        params.update({"tau_syn_ex": tau, "tau_syn_in": tau})
    else:
        raise ValueError(f"unknown synapse description {synapse}")
    return params


def build(net, condition, seed, threads):
    """Creates the network, its inputs and a spike recorder; returns the recorder and the
    node ID of the first neuron."""
    h = net["resolution_ms"]
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": h, "rng_seed": seed, "local_num_threads": threads})

    # Populations, created in order so that their node IDs are contiguous.
    pops = []
    for pop in net["populations"]:
        nodes = nest.Create(pop["model"], pop["n_neurons"], params=neuron_params(pop, h))
        nodes.V_m = nest.random.uniform(min=pop["v_reset_mv"], max=pop["v_th_mv"])
        pops.append(nodes)
    neurons = pops[0]
    for nodes in pops[1:]:
        neurons = neurons + nodes
    first_id = neurons.tolist()[0]

    # Membrane noise: every target of a noise_generator gets its own current.
    for pop, nodes in zip(net["populations"], pops):
        if pop["noise_std_pa"] > 0.0:
            noise = nest.Create("noise_generator", params={"mean": 0.0, "std": pop["noise_std_pa"], "dt": h})
            nest.Connect(noise, nodes, syn_spec={"delay": h})

    # Initial synaptic currents: one spike at h, weighted to give the current of time 2 h.
    weights = net["initial_current_spike_weights_pa"]
    if any(w != 0.0 for w in weights):
        kick = nest.Create("spike_generator", params={"spike_times": [h]})
        for nodes, weight in zip(pops, weights):
            if weight != 0.0:
                nest.Connect(kick, nodes, syn_spec={"weight": weight, "delay": h})

    # Poisson sources: a generator feeding one parrot per source neuron.
    presynaptic = neurons
    for src, n_neurons in enumerate(net["poisson_sources"]):
        parrots = nest.Create("parrot_neuron", n_neurons)
        generator = nest.Create(
            "inhomogeneous_poisson_generator",
            params={
                "rate_times": load(f"inputs_c{condition}_times_ms.npy").tolist(),
                "rate_values": load(f"inputs_c{condition}_values.npy")[:, src].tolist(),
            },
        )
        nest.Connect(generator, parrots, syn_spec={"delay": h})
        presynaptic = presynaptic + parrots

    # Injected input currents: I_e carries the first input row, the generator the changes.
    if net["input_mode"] == "step_currents":
        i_e = load(f"inputs_c{condition}_i_e_pa.npy")
        times = load(f"inputs_c{condition}_times_ms.npy")
        values = load(f"inputs_c{condition}_values.npy")
        for pop_idx, nodes in enumerate(pops):
            nodes.I_e = float(i_e[pop_idx])
            if len(times) > 0:
                generator = nest.Create(
                    "step_current_generator",
                    params={"amplitude_times": times.tolist(), "amplitude_values": values[:, pop_idx].tolist()},
                )
                nest.Connect(generator, nodes, syn_spec={"delay": h})

    # Every drawn synapse, receptor by receptor.
    ids = np.array(presynaptic.tolist(), dtype=np.int64)
    pre = load("connections_pre.npy")
    post = load("connections_post.npy")
    weight = load("connections_weight_pa.npy")
    delay = load("connections_delay_ms.npy")
    receptor = load("connections_receptor.npy")
    for port in np.unique(receptor):
        chosen = receptor == port
        syn_spec = {"weight": weight[chosen], "delay": delay[chosen]}
        if port != 0:
            syn_spec["receptor_type"] = receptor[chosen]
        nest.Connect(ids[pre[chosen]], ids[post[chosen]], "one_to_one", syn_spec=syn_spec)

    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    return recorder, first_id


def main():
    with open(os.path.join(HERE, "network.json")) as file:
        net = json.load(file)
    parser = argparse.ArgumentParser(description="Runs the exported network in NEST and saves its spikes.")
    parser.add_argument("--trials", type=int, default=net["n_trials"], help="trials per condition")
    parser.add_argument("--conditions", type=str, default=None, help="comma-separated condition indices (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="base seed of NEST's random numbers")
    parser.add_argument("--threads", type=int, default=1, help="threads per MPI process")
    parser.add_argument("--out", type=str, default=os.path.join(HERE, "nest_spikes"), help="folder for the spike files")
    args = parser.parse_args()
    conditions = range(net["n_conditions"]) if args.conditions is None else [int(c) for c in args.conditions.split(",")]
    os.makedirs(args.out, exist_ok=True)
    nest.set_verbosity("M_ERROR")
    h = net["resolution_ms"]

    for condition in conditions:
        for trial in range(args.trials):
            started = time.time()
            seed = (args.seed * 1_000_003 + condition * 10_007 + trial) % (2**31 - 1) + 1
            recorder, first_id = build(net, condition, seed, args.threads)
            nest.Simulate(net["duration_ms"])

            # Spikes as (global neuron index, step index), step n ending at n h.
            events = recorder.get("events")
            index = np.asarray(events["senders"], dtype=np.int64) - first_id
            step = np.rint(np.asarray(events["times"]) / h).astype(np.int64)
            spikes = np.stack([index, step], axis=1) if len(index) else np.zeros((0, 2), dtype=np.int64)
            name = f"spikes_c{condition}_t{trial}_rank{nest.Rank()}.npy"
            tmp = os.path.join(args.out, "." + name + ".tmp")
            with open(tmp, "wb") as file:
                np.save(file, spikes.astype(np.int64))
            os.replace(tmp, os.path.join(args.out, name))
            print(
                f"condition {condition} trial {trial}: {len(index)} spikes on rank {nest.Rank()} "
                f"of {nest.NumProcesses()}, {time.time() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    main()
