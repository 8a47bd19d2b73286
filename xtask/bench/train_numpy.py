"""Hand-written numpy BPTT of the training workload (see train_common.py).

Backward pass, with q[t] = logistic(x[t]) and g = dL/dx[t+1]:

    dL/dW += 0.1 g^T q[t],  dL/dU += 0.1 g^T u[t],  dL/db += 0.1 sum g
    dL/dx[t] = (1 - 0.1) g + 0.1 (g W) * q[t] (1 - q[t])  (+ the read-out term of y[t-1])
"""

import numpy as np

import train_common as tc


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def loss_and_gradient(params, inputs, targets):
    w, u_w, b, w_out, b_out = (params[k] for k in ("W", "U", "b", "w_out", "b_out"))
    n_steps, batch, _ = inputs.shape
    n = w.shape[0]
    dtype = w.dtype
    alpha = dtype.type(tc.ALPHA)
    x = np.zeros((n_steps + 1, batch, n), dtype=dtype)
    q = np.empty_like(x)
    q[0] = logistic(x[0])
    for t in range(n_steps):
        drive = q[t] @ w.T + inputs[t] @ u_w.T + b
        x[t + 1] = x[t] + alpha * (-x[t] + drive)
        q[t + 1] = logistic(x[t + 1])
    y = q[1:] @ w_out + b_out[0]
    error = y - targets[..., 0]
    loss = np.mean(error * error)
    d_y = (2.0 / error.size) * error

    grads = {k: np.zeros_like(v) for k, v in params.items()}
    g = np.zeros((batch, n), dtype=dtype)
    for t in range(n_steps - 1, -1, -1):
        slope_next = q[t + 1] * (1.0 - q[t + 1])
        grads["w_out"] += q[t + 1].T @ d_y[t]
        grads["b_out"][0] += d_y[t].sum()
        g += np.outer(d_y[t], w_out) * slope_next
        grads["W"] += alpha * (g.T @ q[t])
        grads["U"] += alpha * (g.T @ inputs[t])
        grads["b"] += alpha * g.sum(axis=0)
        g = (1.0 - alpha) * g + alpha * (g @ w) * (q[t] * (1.0 - q[t]))
    return loss, grads


class Adam:
    def __init__(self, params, lr):
        self.lr = lr
        self.step_count = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def update(self, params, grads):
        self.step_count += 1
        bias1 = 1.0 - tc.BETA1**self.step_count
        bias2 = 1.0 - tc.BETA2**self.step_count
        for k, grad in grads.items():
            self.m[k] = tc.BETA1 * self.m[k] + (1.0 - tc.BETA1) * grad
            self.v[k] = tc.BETA2 * self.v[k] + (1.0 - tc.BETA2) * grad * grad
            m_hat = self.m[k] / bias1
            v_hat = self.v[k] / bias2
            params[k] -= (self.lr * m_hat / (np.sqrt(v_hat) + tc.EPS)).astype(params[k].dtype)


def main():
    args = tc.parse_args("numpy BPTT peer of the training workload")
    dtype = np.float32 if args.precision == "f32" else np.float64
    params, inputs, targets = tc.load_dump(args.dump_dir, dtype)
    adam = Adam(params, args.lr)

    def step(i):
        batch = i % inputs.shape[0]
        loss, grads = loss_and_gradient(params, inputs[batch], targets[batch])
        norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
        if norm > tc.CLIP_NORM:
            for g in grads.values():
                g *= dtype(tc.CLIP_NORM / norm)
        adam.update(params, grads)
        return loss

    fields = tc.run_iterations(args, step)
    tc.print_result("numpy-bptt", args, params, inputs, 1, fields, numpy_version=np.__version__)


if __name__ == "__main__":
    main()
