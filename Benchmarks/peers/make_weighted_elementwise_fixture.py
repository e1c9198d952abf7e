"""Writes Tests/LossKitTests/Fixtures/weighted_elementwise.json: the
elementwise losses with per-element weights, computed by PyTorch in float64
(autograd for the gradients) from float32-rounded inputs.

- Regression losses take mmpose's target weights (`use_target_weight`).
  mmpose's L1Loss, MSELoss, SmoothL1Loss, WingLoss and AdaptiveWingLoss call
  their criterion on (output * target_weight, target * target_weight); LossKit's
  Huber follows its Smooth L1. Focal regression and shrinkage (DSLT, not in
  mmpose) multiply each element's loss by the weight. Wing's criterion is
  written per element (mmpose sums over keypoints and averages over the batch;
  LossKit's mean is over elements, see wing.json).
- BCE with logits: F.binary_cross_entropy_with_logits(weight=..., pos_weight=...).

Weights are per keypoint ([N, K, 1] broadcast over D), with zeros (invisible
keypoints), ones and fractions (which tell loss(w x, w t) from w loss(x, t)).
Run from the repository root with PyTorch installed:

    python3 Benchmarks/peers/make_weighted_elementwise_fixture.py
"""
import json
import math

import torch
import torch.nn.functional as F

TARGET = "Tests/LossKitTests/Fixtures/weighted_elementwise.json"


def tensor(t):
    # 9 significant digits: float32 inputs exactly, float64 results far past float32
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.flatten().tolist()]}


def reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def wing(pred, target, w, epsilon):
    delta = (target - pred).abs()
    c = w * (1.0 - math.log(1.0 + w / epsilon))
    return torch.where(delta < w, w * torch.log(1.0 + delta / epsilon), delta - c)


def adaptive_wing(pred, target, alpha, omega, epsilon, theta):
    delta = (target - pred).abs()
    e = alpha - target
    k = torch.pow(torch.tensor(theta / epsilon, dtype=pred.dtype), e)
    a = omega * (1 / (1 + k)) * e * torch.pow(torch.tensor(theta / epsilon, dtype=pred.dtype), e - 1) / epsilon
    c = theta * a - omega * torch.log(1 + k)
    return torch.where(delta < theta, omega * torch.log(1 + torch.pow(delta / epsilon, e)), a * delta - c)


def shrinkage(pred, target, a, c):
    l = (pred - target).abs()
    return torch.exp(target) * l * l / (1 + torch.exp(a * (c - l)))


# name -> (params, per-element losses of (pred, target, weight), how the weight applies)
def regression_losses():
    def on_inputs(f):
        return lambda x, t, w: f(x * w, t * w)

    def on_loss(f):
        return lambda x, t, w: w * f(x, t)

    return [
        ("l1", {}, on_inputs(lambda x, t: F.l1_loss(x, t, reduction="none"))),
        ("mse", {}, on_inputs(lambda x, t: F.mse_loss(x, t, reduction="none"))),
        ("smooth_l1", {"beta": 1.0}, on_inputs(lambda x, t: F.smooth_l1_loss(x, t, reduction="none", beta=1.0))),
        ("huber", {"delta": 1.5}, on_inputs(lambda x, t: F.huber_loss(x, t, reduction="none", delta=1.5))),
        ("wing", {"w": 10.0, "epsilon": 2.0}, on_inputs(lambda x, t: wing(x, t, 10.0, 2.0))),
        ("adaptive_wing", {"alpha": 2.1, "omega": 14.0, "epsilon": 1.0, "theta": 0.5},
         on_inputs(lambda x, t: adaptive_wing(x, t, 2.1, 14.0, 1.0, 0.5))),
        ("focal_regression", {"gamma": 1.0}, on_loss(lambda x, t: (x - t).abs() ** 3)),
        ("shrinkage", {"a": 10.0, "c": 0.2}, on_loss(lambda x, t: shrinkage(x, t, 10.0, 0.2))),
    ]


def keypoint_weights(gen, n, k, d):
    choice = torch.randint(0, 4, (n, k, 1), generator=gen)
    values = torch.tensor([0.0, 1.0, 0.5, 1.7])[choice]
    return values.expand(n, k, d).contiguous().float()


def main():
    gen = torch.Generator().manual_seed(12)
    cases = []
    n, k, d = 4, 17, 2
    for name, params, loss_fn in regression_losses():
        heatmap = name in ("adaptive_wing", "shrinkage")
        for reduction in ("none", "sum", "mean"):
            if heatmap:
                target32 = torch.rand(n, k, d, generator=gen).float()
                pred32 = (target32 + 0.4 * torch.randn(n, k, d, generator=gen)).float()
            else:
                scale = 8.0 if name == "wing" else 2.0
                target32 = (2 * torch.randn(n, k, d, generator=gen)).float()
                pred32 = (target32 + scale * torch.randn(n, k, d, generator=gen)).float()
            weight32 = keypoint_weights(gen, n, k, d)
            pred = pred32.double().requires_grad_()
            value = reduce(loss_fn(pred, target32.double(), weight32.double()), reduction)
            value.sum().backward()
            cases.append({"name": f"{name}_{reduction}", "params": dict(params, loss=name, reduction=reduction),
                          "inputs": {"pred": tensor(pred32), "target": tensor(target32), "weight": tensor(weight32)},
                          "expected": {"loss": tensor(value.detach()), "grad_pred": tensor(pred.grad)}})
    for pos_weight in (None, 3.0):
        for reduction in ("none", "sum", "mean"):
            logits32 = (4 * torch.randn(n, k, d, generator=gen)).float()
            logits32.view(-1)[:6] = torch.tensor([-30.0, 30.0, -11.27, 11.27, -88.0, 88.0])
            targets32 = (torch.rand(n, k, d, generator=gen) < 0.5).float()
            targets32.view(-1)[:6] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
            targets32.view(-1)[6:12] = torch.rand(6, generator=gen).float()  # soft targets
            weight32 = (2 * torch.rand(n, k, d, generator=gen)).float()
            weight32.view(-1)[12:16] = 0.0
            x = logits32.double().requires_grad_()
            pw = None if pos_weight is None else torch.tensor([pos_weight], dtype=torch.float64)
            value = F.binary_cross_entropy_with_logits(x, targets32.double(), weight=weight32.double(),
                                                       pos_weight=pw, reduction=reduction)
            value.sum().backward()
            params = {"loss": "bce_logits", "reduction": reduction}
            if pos_weight is not None:
                params["pos_weight"] = pos_weight
            cases.append({"name": f"bce_logits_pw{pos_weight}_{reduction}", "params": params,
                          "inputs": {"pred": tensor(logits32), "target": tensor(targets32), "weight": tensor(weight32)},
                          "expected": {"loss": tensor(value.detach()), "grad_pred": tensor(x.grad)}})
    out = {"op": "weighted_elementwise",
           "reference": f"torch {torch.__version__} in float64 (mmpose target-weight semantics, "
                        "F.binary_cross_entropy_with_logits weight)", "cases": cases}
    with open(TARGET, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
