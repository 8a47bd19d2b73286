"""Brian2 side of `cargo xtask crosscheck-brian2`: simulates the network that the harness
describes (serialised `iaf_sim::NetworkParams`) for several trials and prints one JSON line with
the rate of every population in every trial.

Each trial redraws the connectivity, the initial potentials, the noise and the Poisson spikes.
The model matches `iaf-sim`: tau_m dV/dt = -V + I_syn + bias + sigma_v sqrt(tau_m) xi(t), spike
and reset when V >= v_threshold, clamped at the reset for t_ref; a difference-of-exponentials
kernel is dx/dt = -x / rise, dI_syn/dt = -I_syn / decay + x with a jump of w / rise in x per
spike, an exponential kernel dI_syn/dt = -I_syn / tau with a jump of w in I_syn. Both kernels
integrate to w times the decay time in ms. Brian2 integrates
with Euler-Maruyama (`method="euler"`), which shifts the stationary variance of the free
membrane by the factor 1 / (1 - dt / (2 tau_m)), 0.5 % at dt / tau_m = 0.01.
"""

import argparse
import json
import sys

import numpy as np


def kernel(synapse):
    """Returns (rise_ms or None, decay_ms) of a serialised SynapseModel."""
    (name, fields), = synapse.items()
    if name == "Exponential":
        return None, fields["tau_ms"]
    if name == "DiffOfExponentials":
        return fields["rise_ms"], fields["decay_ms"]
    if name == "Alpha":
        return fields["tau_ms"], fields["tau_ms"]
    raise SystemExit(f"unsupported synapse model {name}")


def fixed_indegree(rng, n_pre, n_post, k):
    """Returns (pre, post) index arrays: every postsynaptic neuron gets k distinct inputs."""
    order = np.argsort(rng.random((n_post, n_pre)), axis=1)[:, :k]
    return order.ravel(), np.repeat(np.arange(n_post), k)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON file written by the harness")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as file:
        spec = json.load(file)

    import brian2 as b2

    b2.prefs.logging.console_log_level = "WARNING"
    # Each trial builds new objects, and Brian2's Cython target compiles fresh modules for
    # them, which costs more than the numpy target's slower steps on a network this small.
    b2.prefs.codegen.target = "numpy"
    params = spec["network"]
    b2.defaultclock.dt = params["dt_ms"] * b2.ms
    rates = []
    for trial in range(spec["trials"]):
        seed = spec["seed"] + trial
        b2.seed(seed)
        rng = np.random.default_rng(seed)
        b2.start_scope()
        groups, monitors = [], []
        for index, pop in enumerate(params["populations"]):
            neuron = pop["neuron"]
            rise, decay = kernel(pop["synapse"])
            if rise is None:
                synapse_eqs = "dI_syn/dt = -I_syn / decay : 1"
            else:
                synapse_eqs = "dI_syn/dt = -I_syn / decay + x : 1\ndx/dt = -x / rise : Hz"
            equations = (
                "dv/dt = (-v + I_syn + bias) / tau_m + sigma_v * xi / sqrt(tau_m) "
                ": 1 (unless refractory)\n" + synapse_eqs
            )
            namespace = {
                "tau_m": neuron["tau_m_ms"] * b2.ms,
                "sigma_v": neuron["sigma_v"],
                "bias": pop["bias"],
                "decay": decay * b2.ms,
            }
            if rise is not None:
                namespace["rise"] = rise * b2.ms
            group = b2.NeuronGroup(
                pop["n_neurons"],
                equations,
                threshold=f"v >= {neuron['v_threshold']}",
                reset=f"v = {neuron['v_reset']}",
                refractory=neuron["t_ref_ms"] * b2.ms,
                method="euler",
                namespace=namespace,
                name=f"population{index}",
            )
            low, high = neuron["v_reset"], neuron["v_threshold"]
            group.v = low + (high - low) * rng.random(pop["n_neurons"])
            groups.append((group, rise, decay))
            monitor = b2.SpikeMonitor(group, record=False, name=f"spikes{index}")
            monitors.append(monitor)
        sources = [
            b2.PoissonGroup(src["n_neurons"], rates=rate * b2.Hz, name=f"poisson{index}")
            for index, (src, rate) in enumerate(
                zip(params["poisson_sources"], spec["poisson_rates_hz"])
            )
        ]
        synapses = []
        for index, projection in enumerate(params["projections"]):
            (kind, source), = projection["source"].items()
            pre = groups[source][0] if kind == "Population" else sources[source]
            post, rise, decay = groups[projection["target"]]
            (rule, rule_fields), = projection["connectivity"].items()
            if rule != "FixedIndegree":
                raise SystemExit(f"unsupported connectivity {rule}")
            if rise is None:
                on_pre = f"I_syn_post += {projection['weight']}"
            else:
                on_pre = f"x_post += {projection['weight']} / ({rise} * ms)"
            connection = b2.Synapses(pre, post, on_pre=on_pre, name=f"projection{index}")
            i, j = fixed_indegree(rng, len(pre), len(post), rule_fields["k"])
            connection.connect(i=i, j=j)
            connection.delay = projection["delay_ms"] * b2.ms
            synapses.append(connection)
        network = b2.Network([g for g, _, _ in groups], sources, synapses, monitors)
        network.run(spec["warmup_ms"] * b2.ms)
        before = [int(m.num_spikes) for m in monitors]
        network.run(spec["duration_ms"] * b2.ms)
        duration_s = spec["duration_ms"] / 1000.0
        rates.append(
            [
                (int(m.num_spikes) - b) / (pop["n_neurons"] * duration_s)
                for m, b, pop in zip(monitors, before, params["populations"])
            ]
        )
        print(f"trial {trial}: {rates[-1]}", file=sys.stderr)
    print(json.dumps({"tool": "brian2", "version": b2.__version__, "rates_hz": rates}))


if __name__ == "__main__":
    main()
