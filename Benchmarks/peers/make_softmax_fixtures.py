"""Writes two fixtures of F.cross_entropy, by PyTorch autograd in float64 on
float32-rounded inputs:

- Tests/LossKitTests/Fixtures/softmax_ce_soft.json: probability targets
  (soft labels: mixup, CutMix, distillation) [rows, classes], with label
  smoothing and class weights; targets one-hot, mixed, not summing to 1,
  all-zero rows and negative entries (PyTorch takes them as given).
- Tests/LossKitTests/Fixtures/softmax_ce_zero_denominator.json: class-index
  targets whose weighted mean divides by zero (every counted row's weight 0,
  every row ignored, no rows), with and without smoothing and weights.

NaN is written as null (the golden format). Run from the repository root with
PyTorch installed:

    python3 Benchmarks/peers/make_softmax_fixtures.py
"""
import json
import math

import torch
import torch.nn.functional as F

SOFT = "Tests/LossKitTests/Fixtures/softmax_ce_soft.json"
ZERO = "Tests/LossKitTests/Fixtures/softmax_ce_zero_denominator.json"


def tensor(t):
    # 9 significant digits: float32 inputs exactly; NaN as null
    def value(v):
        if isinstance(v, float) and math.isnan(v):
            return None
        assert not (isinstance(v, float) and math.isinf(v)), "the golden format has no infinities"
        return float(f"{v:.12g}") if isinstance(v, float) else v
    return {"shape": list(t.shape), "data": [value(v) for v in t.flatten().tolist()]}


def evaluate(x32, target, weight, smoothing, reduction):
    """loss and the gradient of the reduced loss (of the sum for 'none') in float64."""
    x = x32.double().requires_grad_()
    t = target.double() if target.is_floating_point() else target
    w = None if weight is None else weight.double()
    loss = F.cross_entropy(x, t, weight=w, label_smoothing=smoothing, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    return loss.detach(), x.grad


def case(name, x32, target, weight, smoothing, reduction, target_key, note=None):
    loss, grad = evaluate(x32, target, weight, smoothing, reduction)
    inputs = {"logits": tensor(x32), target_key: tensor(target)}
    if weight is not None:
        inputs["class_weights"] = tensor(weight)
    out = {"name": name, "params": {"label_smoothing": smoothing, "reduction": reduction},
           "inputs": inputs, "expected": {"loss": tensor(loss), "grad_logits": tensor(grad)}}
    if note:
        out["note"] = note
    return out


def soft_cases(gen):
    cases = []
    f32 = dict(dtype=torch.float32)
    for classes, rows in [(3, 5), (21, 19), (33, 9), (751, 3)]:
        x = (torch.randn(rows, classes, generator=gen, **f32) * 3)
        kinds = {
            "softmax": torch.softmax(torch.randn(rows, classes, generator=gen, **f32) * 2, dim=1),
            "mixup": None,
            "loose": torch.rand(rows, classes, generator=gen, **f32) * 0.5,  # rows need not sum to 1
        }
        # mixup / CutMix: lam one-hot(a) + (1 - lam) one-hot(b)
        a = torch.randint(0, classes, (rows,), generator=gen)
        b = torch.randint(0, classes, (rows,), generator=gen)
        lam = torch.rand(rows, 1, generator=gen, **f32)
        kinds["mixup"] = (lam * F.one_hot(a, classes) + (1 - lam) * F.one_hot(b, classes)).to(torch.float32)
        weight = torch.rand(classes, generator=gen, **f32) * 1.9 + 0.1
        configs = [(0.0, None, "mean"), (0.1, None, "mean"), (0.0, weight, "mean"),
                   (0.2, weight, "mean"), (0.1, weight, "sum"), (0.1, weight, "none")]
        for kind, t in kinds.items():
            for smoothing, w, reduction in configs if classes < 100 else configs[1::3]:
                cases.append(case(f"c{classes}_{kind}_ls{smoothing}_w{int(w is not None)}_{reduction}",
                                  x, t, w, smoothing, reduction, "targets"))
    # edge rows: a zero target row, negative entries, one-hot, saturated logits; 4 classes
    x = torch.tensor([[1e4, 0, -1e4, 2], [3, -1, 0.5, 0], [88, 89, 90, -88], [0, 0, 0, 0], [-5, 5, 1, 2]], **f32)
    t = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 0], [0.25, 0.5, 0.25, 0], [-0.5, 1.5, 0, 0], [2, 0, 0, 1]], **f32)
    w = torch.tensor([0.5, 2, 1, 0], **f32)
    for smoothing, weight, reduction in [(0.0, None, "none"), (0.1, None, "none"), (0.3, w, "none"), (0.3, w, "mean")]:
        cases.append(case(f"edges_ls{smoothing}_w{int(weight is not None)}_{reduction}", x, t, weight, smoothing,
                          reduction, "targets",
                          note="targets are taken as given: zero rows, negative entries, rows not summing to 1"))
    # no rows: the mean is NaN
    cases.append(case("empty_mean", torch.zeros(0, 3), torch.zeros(0, 3), None, 0.1, "mean", "targets"))
    return cases


def zero_denominator_cases(gen):
    cases = []
    x = torch.randn(6, 3, generator=gen, dtype=torch.float32) * 2
    w = torch.tensor([0.0, 0.0, 2.0])
    zero_w = torch.zeros(3)
    counted_zero = torch.tensor([0, 1, 0, 1, 1, 0])          # every label has weight 0
    partly_ignored = torch.tensor([0, -100, 1, -100, 1, 0])  # those, and ignored rows
    ignored = torch.full((6,), -100)
    for smoothing in (0.0, 0.1):
        for reduction in ("mean", "sum"):
            cases.append(case(f"zero_label_weights_ls{smoothing}_{reduction}", x, counted_zero, w, smoothing, reduction, "labels"))
        cases.append(case(f"zero_label_weights_some_ignored_ls{smoothing}_mean", x, partly_ignored, w, smoothing, "mean", "labels"))
        cases.append(case(f"all_weights_zero_ls{smoothing}_mean", x, counted_zero, zero_w, smoothing, "mean", "labels"))
        for weight in (None, w):
            cases.append(case(f"all_ignored_ls{smoothing}_w{int(weight is not None)}_mean", x, ignored, weight,
                              smoothing, "mean", "labels"))
        cases.append(case(f"no_rows_ls{smoothing}_mean", torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), None,
                          smoothing, "mean", "labels"))
    return cases


def main():
    gen = torch.Generator().manual_seed(12)
    reference = f"torch {torch.__version__} F.cross_entropy, autograd in float64 on the float32 inputs"
    with open(SOFT, "w") as f:
        json.dump({"op": "softmax_ce_soft", "reference": reference, "cases": soft_cases(gen)}, f)
    with open(ZERO, "w") as f:
        json.dump({"op": "softmax_ce", "reference": reference, "cases": zero_denominator_cases(gen)}, f)


if __name__ == "__main__":
    main()
