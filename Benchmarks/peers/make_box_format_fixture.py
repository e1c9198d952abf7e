"""Writes Tests/LossKitTests/Fixtures/box_formats.json: the IoU-family
matrices and aligned losses on boxes given as xyxy, xywh and cxcywh, by
torchvision's formulas (box_convert, box_iou, generalized_box_iou,
distance_box_iou, complete_box_iou, *_box_iou_loss) written in torch ops, in
float64 on float32-rounded inputs, gradients by autograd with respect to the
boxes in their own format (CIoU's alpha under no_grad, as torchvision).

Where torchvision divides 0 by 0 (it gives NaN) the values follow LossKit's
one rule: that term is 0 - the IoU of a pair whose union is 0, GIoU's
(C - U) / C where C = 0, CIoU's alpha v when either box has w = h = 0. The
"edges" cases hold such pairs; the script also rewrites the expected
matrices of the "edges" cases of the four golden matrix fixtures from their
own inputs under that rule (box_iou, generalized and distance are unchanged
by it; complete_box_iou's point-box pairs become their DIoU).
Run from the repository root with PyTorch installed:

    python3 Benchmarks/peers/make_box_format_fixture.py
"""
import json
import math

import torch

TARGET = "Tests/LossKitTests/Fixtures/box_formats.json"
FIXTURES = "Tests/LossKitTests/Fixtures/"
EPS = 1e-7
FORMATS = ["xyxy", "xywh", "cxcywh"]


def to_xyxy(b, fmt):  # torchvision.ops.box_convert
    if fmt == "xyxy":
        return b
    x, y, w, h = b.unbind(-1)
    if fmt == "xywh":
        return torch.stack([x, y, x + w, y + h], -1)
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], -1)


def from_xyxy(b, fmt):
    if fmt == "xyxy":
        return b
    x1, y1, x2, y2 = b.unbind(-1)
    if fmt == "xywh":
        return torch.stack([x1, y1, x2 - x1, y2 - y1], -1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def ratio0(num, den):  # LossKit's rule: a 0 / 0 term is 0
    return torch.where(den == 0, torch.zeros_like(num), num / torch.where(den == 0, torch.ones_like(den), den))


def matrix(kind, b1, b2):
    """torchvision's box_iou family, [N, M], on corner boxes."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = torch.max(b1[:, None, :2], b2[:, :2])
    rb = torch.min(b1[:, None, 2:], b2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2 - inter
    iou = ratio0(inter, union)
    if kind == "iou":
        return iou
    lti = torch.min(b1[:, None, :2], b2[:, :2])
    rbi = torch.max(b1[:, None, 2:], b2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    if kind == "generalized":
        areai = whi[..., 0] * whi[..., 1]
        return iou - ratio0(areai - union, areai)
    diag = whi[..., 0] ** 2 + whi[..., 1] ** 2 + EPS
    xp, yp = (b1[:, 0] + b1[:, 2]) / 2, (b1[:, 1] + b1[:, 3]) / 2
    xg, yg = (b2[:, 0] + b2[:, 2]) / 2, (b2[:, 1] + b2[:, 3]) / 2
    cent = (xp[:, None] - xg[None, :]) ** 2 + (yp[:, None] - yg[None, :]) ** 2
    diou = iou - cent / diag
    if kind == "distance":
        return diou
    w1, h1 = b1[:, 2] - b1[:, 0], b1[:, 3] - b1[:, 1]
    w2, h2 = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
    point = ((w1 == 0) & (h1 == 0))[:, None] | ((w2 == 0) & (h2 == 0))[None, :]
    v = (4 / math.pi ** 2) * (torch.atan(w1 / h1)[:, None] - torch.atan(w2 / h2)[None, :]) ** 2
    v = torch.where(point, torch.zeros_like(v), v)
    alpha = v / (1 - iou + v + EPS)
    return diou - alpha * v


def loss(kind, p, g):
    """torchvision's generalized / distance / complete_box_iou_loss, reduction none, on corner boxes."""
    x1, y1, x2, y2 = p.unbind(-1)
    x1g, y1g, x2g, y2g = g.unbind(-1)
    xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
    mask = (yk2 > yk1) & (xk2 > xk1)
    inter = torch.where(mask, (xk2 - xk1) * (yk2 - yk1), torch.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + EPS)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    if kind == "generalized":
        area_c = (xc2 - xc1) * (yc2 - yc1)
        return 1 - (iou - (area_c - union) / (area_c + EPS))
    diag = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + EPS
    cent = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    out = 1 - iou + cent / diag
    if kind == "distance":
        return out
    wp, hp, wg, hg = x2 - x1, y2 - y1, x2g - x1g, y2g - y1g
    v = (4 / math.pi ** 2) * (torch.atan(wg / hg) - torch.atan(wp / hp)) ** 2
    point = ((wp == 0) & (hp == 0)) | ((wg == 0) & (hg == 0))
    v = torch.where(point, torch.zeros_like(v), v)
    with torch.no_grad():
        alpha = v / (1 - iou + v + EPS)
    return out + alpha * v


def tensor(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.detach().flatten().tolist()]}


def random_xyxy(n, gen):
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 100
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 40 + 0.5
    return torch.cat([xy, xy + wh], 1)


EDGES = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 4, 4], [5, 5, 5, 5],
                      [1, 4, 9, 4], [3, 3, 3, 3], [0, 0, 0, 6]], dtype=torch.float64)


def main():
    gen = torch.Generator().manual_seed(7)
    cases = []
    kinds = ["iou", "generalized", "distance", "complete"]
    for fmt in FORMATS:
        sets = {"random_23x9": (random_xyxy(23, gen), random_xyxy(9, gen)), "edges": (EDGES, EDGES[[0, 2, 4, 5, 6, 7]])}
        for name, (a, b) in sets.items():
            # the inputs as the kernel sees them: in the format, rounded to float32
            a32, b32 = from_xyxy(a, fmt).float(), from_xyxy(b, fmt).float()
            a64, b64 = to_xyxy(a32.double(), fmt), to_xyxy(b32.double(), fmt)
            for kind in kinds:
                cases.append({"name": f"matrix_{kind}_{fmt}_{name}", "params": {"op": "matrix", "kind": kind, "format": fmt},
                              "inputs": {"boxes1": tensor(a32), "boxes2": tensor(b32)},
                              "expected": {"matrix": tensor(matrix(kind, a64, b64))}})
        p = random_xyxy(17, gen)
        t = p + (torch.rand(17, 4, generator=gen, dtype=torch.float64) - 0.5) * 8
        t = torch.stack([torch.min(t[:, 0], t[:, 2]), torch.min(t[:, 1], t[:, 3]),
                         torch.max(t[:, 0], t[:, 2]), torch.max(t[:, 1], t[:, 3])], 1)
        p32, t32 = from_xyxy(p, fmt).float(), from_xyxy(t, fmt).float()
        for kind in kinds[1:]:
            leaf = p32.double().requires_grad_()
            values = loss(kind, to_xyxy(leaf, fmt), to_xyxy(t32.double(), fmt))
            values.sum().backward()
            cases.append({"name": f"loss_{kind}_{fmt}", "params": {"op": "loss", "kind": kind, "format": fmt},
                          "inputs": {"pred": tensor(p32), "target": tensor(t32)},
                          "expected": {"loss": tensor(values), "grad_pred": tensor(leaf.grad)}})
    out = {"op": "box_formats",
           "reference": f"torch {torch.__version__}: torchvision's box formulas in float64 on float32 inputs",
           "note": "0 / 0 terms are 0 (LossKit's rule; torchvision gives NaN there)", "cases": cases}
    with open(TARGET, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    # the golden matrices' edges cases under the rule, from their own inputs
    for op, kind in [("box_iou", "iou"), ("generalized_box_iou", "generalized"), ("distance_box_iou", "distance"),
                     ("complete_box_iou", "complete")]:
        path = FIXTURES + op + ".json"
        data = json.load(open(path))
        changed = False
        for case in data["cases"]:
            if case["name"] != "edges":
                continue
            a = torch.tensor(case["inputs"]["boxes1"]["data"], dtype=torch.float64).reshape(-1, 4)
            b = torch.tensor(case["inputs"]["boxes2"]["data"], dtype=torch.float64).reshape(-1, 4)
            new = tensor(matrix(kind, a, b))
            old = case["expected"]["matrix"]["data"]
            if any((x is None) != (y is None) or (x is not None and abs(x - y) > 1e-8 * max(1.0, abs(x)))
                   for x, y in zip(old, new["data"])):
                changed = True
                case["expected"]["matrix"] = new
                case["note"] = ("torchvision gives NaN where it divides 0 by 0; LossKit makes that term 0 "
                                "(rewritten by Benchmarks/peers/make_box_format_fixture.py)")
        if changed:  # only the fixtures the rule changes
            with open(path, "w") as f:
                json.dump(data, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
