"""Writes Tests/LossKitTests/Fixtures/pairwise_distance_backward.json: the
gradients of sum(upstream * D) for the inputs of the golden pairwise_distance
cases, by PyTorch autograd in float64 through the metrics' formulas (the
clamps of LossKit's DistanceMetric: sqrt(max(d^2, 1e-12)), norms floored at
1e-8). Run from the repository root with PyTorch installed:

    python3 Benchmarks/peers/make_distance_backward_fixture.py
"""
import json

import torch

SOURCE = "Tests/LossKitTests/Fixtures/pairwise_distance.json"
TARGET = "Tests/LossKitTests/Fixtures/pairwise_distance_backward.json"


def distances(metric, x, y):
    if metric == "cosine":
        nx = x.norm(dim=1).clamp(min=1e-8)
        ny = y.norm(dim=1).clamp(min=1e-8)
        return 1 - (x @ y.T) / (nx[:, None] * ny[None, :])
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return d2 if metric == "sqeuclidean" else d2.clamp(min=1e-12).sqrt()


def tensor(t):
    # 9 significant digits: float32 inputs exactly, float64 gradients far past what float32 can hold
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.flatten().tolist()]}


def main():
    source = json.load(open(SOURCE))
    gen = torch.Generator().manual_seed(0)
    cases = []
    for case in source["cases"]:
        metric = case["params"]["metric"]
        x32 = torch.tensor(case["inputs"]["x"]["data"], dtype=torch.float32).reshape(case["inputs"]["x"]["shape"])
        y32 = torch.tensor(case["inputs"]["y"]["data"], dtype=torch.float32).reshape(case["inputs"]["y"]["shape"])
        upstream = torch.randn(x32.shape[0], y32.shape[0], generator=gen, dtype=torch.float32)
        x = x32.double().requires_grad_()
        y = y32.double().requires_grad_()
        (distances(metric, x, y) * upstream.double()).sum().backward()
        cases.append({"name": case["name"], "params": {"metric": metric},
                      "inputs": {"x": tensor(x32), "y": tensor(y32), "upstream": tensor(upstream)},
                      "expected": {"grad_x": tensor(x.grad), "grad_y": tensor(y.grad)}})
    out = {"op": "pairwise_distance_backward",
           "reference": f"torch {torch.__version__} autograd in float64 on the float32 inputs", "cases": cases}
    with open(TARGET, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
