"""PyTorch eager BPTT of the training workload (see train_common.py) on the CPU, with autograd,
torch.optim.Adam and torch.nn.utils.clip_grad_norm_."""

import numpy as np
import torch

import train_common as tc


def main():
    args = tc.parse_args("PyTorch peer of the training workload")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    np_dtype = np.float32 if args.precision == "f32" else np.float64
    params_np, inputs_np, targets_np = tc.load_dump(args.dump_dir, np_dtype)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in params_np.items()}
    inputs = torch.from_numpy(inputs_np)
    targets = torch.from_numpy(targets_np)[..., 0]
    optimizer = torch.optim.Adam(
        list(params.values()), lr=args.lr, betas=(tc.BETA1, tc.BETA2), eps=tc.EPS
    )
    w, u_w, b, w_out, b_out = (params[k] for k in ("W", "U", "b", "w_out", "b_out"))
    n_steps, batch = inputs.shape[1], inputs.shape[2]

    def step(i):
        k = i % inputs.shape[0]
        optimizer.zero_grad(set_to_none=True)
        x = torch.zeros(batch, w.shape[0], dtype=w.dtype)
        outputs = []
        for t in range(n_steps):
            drive = torch.sigmoid(x) @ w.T + inputs[k, t] @ u_w.T + b
            x = x + tc.ALPHA * (drive - x)
            outputs.append(torch.sigmoid(x) @ w_out + b_out)
        y = torch.stack(outputs)
        loss = torch.mean((y - targets[k]) ** 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), tc.CLIP_NORM)
        optimizer.step()
        return loss.item()

    fields = tc.run_iterations(args, step)
    name = "torch-1thread" if threads == 1 else f"torch-{threads}threads"
    tc.print_result(name, args, params_np, inputs_np, threads, fields, torch_version=torch.__version__)


if __name__ == "__main__":
    main()
