"""Writes Tests/LossKitTests/Fixtures/reference_pairs.json: golden values for
the reference-set contrastive loss and the indexed triplet loss
(losskit_contrastive_reference, losskit_triplet_reference), by PyTorch
autograd in float64 on float32-rounded inputs. Run from the repository root:

    /work/torch-venv/bin/python Benchmarks/peers/make_reference_pairs_fixture.py

Contrastive: pytorch-metric-learning's ContrastiveLoss(pos_margin, neg_margin)
with ref_emb / ref_labels, written out in torch: every (query, reference)
pair whose reference is not marked as that query (a query passed among the
references is not paired with itself, as pml's diagonal exclusion when
ref_emb is the batch), positive pairs relu(D - pos_margin)^power, negative
pairs relu(neg_margin - D)^power, reduced by sum, mean over the counted
pairs, or pml's AvgNonZeroReducer (each half's sum over its count of losses
> 0, 0 when none; the halves added). pml's LpDistance runs torch.cdist;
these use LossKit's sqrt(max(d^2, 1e-12)) (equal away from d = 0).

Triplets: anchors index the queries, positives and negatives the
references. The "torch_" cases run torch.nn.TripletMarginLoss(margin, p=2,
eps=0, swap=True) itself on the gathered rows (no ties, no coincident rows);
the others write the loss in torch (torch.min for the swap, so a tie splits
the gradient in halves; softplus for the soft margin; + D(a, p) for the
improved form). Quadruplets (Chen et al. 2017) by index, written in torch.
normalize: torch.nn.functional.normalize(x, dim=1) first.
"""
import json

import torch
import torch.nn.functional as F

# LossKit's metric forms in torch, and the fixture's tensor format (this folder is on sys.path when run as a script)
from make_distance_backward_fixture import distances, tensor

TARGET = "Tests/LossKitTests/Fixtures/reference_pairs.json"


def ints(values):
    return {"shape": [len(values)], "data": [int(v) for v in values]}


def pair_distances(metric, u, v):
    """Row i of u against row i of v."""
    if metric == "cosine":
        nu = u.norm(dim=1).clamp(min=1e-8)
        nv = v.norm(dim=1).clamp(min=1e-8)
        return 1 - (u * v).sum(1) / (nu * nv)
    d2 = ((u - v) ** 2).sum(1)
    return d2 if metric == "sqeuclidean" else d2.clamp(min=1e-12).sqrt()


def contrastive(metric, x, labels, y, ref_labels, marks, pos_margin, neg_margin, power, normalize, reduction):
    if normalize:
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    dist = distances(metric, x, y)
    q, m = dist.shape
    counted = torch.ones(q, m, dtype=torch.bool)
    for j, i in enumerate(marks):
        if i >= 0:
            counted[i, j] = False
    same = labels[:, None] == ref_labels[None, :]
    pos = torch.relu(dist[same & counted] - pos_margin) ** power
    neg = torch.relu(neg_margin - dist[~same & counted]) ** power
    if reduction == "sum":
        return pos.sum() + neg.sum()
    if reduction == "mean":
        return (pos.sum() + neg.sum()) / counted.sum()
    total = 0.0  # pml's AvgNonZeroReducer, per half
    for half in (pos, neg):
        nonzero = (half > 0).sum()
        total = total + (half.sum() / nonzero if nonzero > 0 else half.sum() * 0)
    return total


def triplets(metric, x, y, anchors, positives, negatives, margin, soft, improved, swap, normalize, reduction):
    if normalize:
        x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    a, p, n = x[anchors], y[positives], y[negatives]
    d_ap, d_an = pair_distances(metric, a, p), pair_distances(metric, a, n)
    if swap:
        d_an = torch.min(d_an, pair_distances(metric, p, n))
    z = d_ap - d_an + margin
    loss = F.softplus(z) if soft else torch.relu(z)
    if improved:
        loss = loss + d_ap
    return {"none": loss.sum(), "sum": loss.sum(), "mean": loss.mean()}[reduction], loss


def main():
    gen = torch.Generator().manual_seed(14)
    cases = []
    q, m, d = 6, 11, 5
    for case, (metric, power, reduction, normalize, pos_margin, neg_margin) in enumerate([
            ("euclidean", 1, "mean_nonzero", False, 0.0, 1.0),
            ("euclidean", 1, "mean_nonzero", False, 0.5, 2.5),
            ("euclidean", 2, "sum", False, 0.0, 2.0),
            ("euclidean", 2, "mean", False, 0.3, 2.2),
            ("sqeuclidean", 1, "mean", False, 1.0, 6.0),
            ("cosine", 1, "mean_nonzero", False, 0.1, 0.9),
            ("cosine", 2, "sum", False, 0.0, 0.7),
            ("euclidean", 1, "mean_nonzero", True, 0.2, 1.1),
            ("euclidean", 2, "mean", True, 0.0, 1.0),
            ("cosine", 1, "sum", True, 0.05, 0.6)]):
        x32 = torch.randn(q, d, generator=gen, dtype=torch.float32)
        y32 = torch.randn(m, d, generator=gen, dtype=torch.float32)
        labels = torch.tensor([0, 1, 2, 0, 1, 3])
        ref_labels = torch.randint(0, 4, (m,), generator=gen)
        marks = [-1] * m
        if case % 2 == 0:  # queries 1 and 4 are also references 2 and 7, as a memory holding the batch would
            for i, j in [(1, 2), (4, 7)]:
                y32[j] = x32[i]
                ref_labels[j] = labels[i]
                marks[j] = i
        x, y = x32.double().requires_grad_(), y32.double().requires_grad_()
        value = contrastive(metric, x, labels, y, ref_labels, marks, pos_margin, neg_margin, power, normalize, reduction)
        value.backward()
        cases.append({"name": f"contrastive_{metric}_p{power}_{reduction}{'_normalized' if normalize else ''}_{case}",
                      "params": {"loss": "contrastive", "metric": metric, "power": power, "reduction": reduction,
                                 "normalize": normalize, "pos_margin": pos_margin, "neg_margin": neg_margin},
                      "inputs": {"queries": tensor(x32), "labels": ints(labels.tolist()), "references": tensor(y32),
                                 "reference_labels": ints(ref_labels.tolist()), "reference_query": ints(marks)},
                      "expected": {"loss": tensor(value.detach()), "grad_queries": tensor(x.grad),
                                   "grad_references": tensor(y.grad)}})
    # the batch as its own references: pml's ContrastiveLoss on (embeddings, labels), the diagonal excluded
    x32 = torch.randn(8, d, generator=gen, dtype=torch.float32)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 0])
    x = x32.double().requires_grad_()
    value = contrastive("euclidean", x, labels, x, labels, list(range(8)), 0.0, 1.0, 1, True, "mean_nonzero")
    value.backward()
    cases.append({"name": "contrastive_batch_as_references_pml_defaults", "note": "grad_queries is the whole gradient; "
                  "the kernel splits it between its queries and references arguments",
                  "params": {"loss": "contrastive", "metric": "euclidean", "power": 1, "reduction": "mean_nonzero",
                             "normalize": True, "pos_margin": 0.0, "neg_margin": 1.0, "batch": True},
                  "inputs": {"queries": tensor(x32), "labels": ints(labels.tolist()), "references": tensor(x32),
                             "reference_labels": ints(labels.tolist()), "reference_query": ints(list(range(8)))},
                  "expected": {"loss": tensor(value.detach()), "grad_features": tensor(x.grad)}})

    q, m, d, t = 5, 9, 6, 12
    for case, (metric, margin, soft, improved, swap, normalize, reduction) in enumerate([
            ("euclidean", 0.3, False, False, False, False, "mean"),
            ("euclidean", 0.8, False, False, True, False, "sum"),
            ("euclidean", 0.2, True, False, True, False, "mean"),
            ("euclidean", 0.0, True, False, False, False, "none"),
            ("euclidean", 0.5, False, True, True, False, "mean"),
            ("sqeuclidean", 2.0, False, False, True, False, "mean"),
            ("cosine", 0.3, False, False, True, False, "sum"),
            ("cosine", 0.1, True, True, False, True, "mean"),
            ("euclidean", 0.4, False, False, True, True, "none"),
            ("euclidean", 1.0, False, False, True, False, "mean")]):
        x32 = torch.randn(q, d, generator=gen, dtype=torch.float32)
        y32 = torch.randn(m, d, generator=gen, dtype=torch.float32)
        anchors = torch.randint(0, q, (t,), generator=gen)
        positives = torch.randint(0, m, (t,), generator=gen)
        negatives = (positives + 1 + torch.randint(0, m - 1, (t,), generator=gen)) % m
        if case == 9:  # ties of the swap: positives equal to their anchors, so D(a, n) == D(p, n) exactly
            for r, k in enumerate((0, 3, 7)):
                positives[k] = r
                negatives[k] = r + 4
                y32[r] = x32[anchors[k]]
                y32[r + 4] = x32[anchors[k]] + 0.1 * torch.randn(d, generator=gen)  # near: the hinge is active
        x, y = x32.double().requires_grad_(), y32.double().requires_grad_()
        value, per = triplets(metric, x, y, anchors, positives, negatives, margin, soft, improved, swap, normalize,
                              reduction)
        value.backward()
        expected = {"loss": tensor(value.detach()), "grad_queries": tensor(x.grad), "grad_references": tensor(y.grad)}
        if reduction == "none":
            expected["per_triplet"] = tensor(per.detach())
        cases.append({"name": f"triplet_{metric}_{'soft' if soft else 'hinge'}{'_improved' if improved else ''}"
                              f"{'_swap' if swap else ''}{'_normalized' if normalize else ''}_{reduction}_{case}",
                      "params": {"loss": "triplet", "metric": metric, "margin": margin, "soft_margin": soft,
                                 "improved": improved, "swap": swap, "normalize": normalize, "reduction": reduction},
                      "inputs": {"queries": tensor(x32), "references": tensor(y32), "anchors": ints(anchors.tolist()),
                                 "positives": ints(positives.tolist()), "negatives": ints(negatives.tolist())},
                      "expected": expected})
    # the peer itself: torch.nn.TripletMarginLoss(swap=True) on the gathered rows
    for case, (margin, reduction) in enumerate([(0.5, "mean"), (1.0, "sum")]):
        x32 = torch.randn(q, d, generator=gen, dtype=torch.float32)
        y32 = torch.randn(m, d, generator=gen, dtype=torch.float32)
        anchors = torch.randint(0, q, (t,), generator=gen)
        positives = torch.randint(0, m, (t,), generator=gen)
        negatives = (positives + 1 + torch.randint(0, m - 1, (t,), generator=gen)) % m
        x, y = x32.double().requires_grad_(), y32.double().requires_grad_()
        peer = torch.nn.TripletMarginLoss(margin=margin, p=2, eps=0.0, swap=True, reduction=reduction)
        value = peer(x[anchors], y[positives], y[negatives])
        value.backward()
        cases.append({"name": f"torch_TripletMarginLoss_swap_{reduction}_{case}",
                      "note": "torch.nn.TripletMarginLoss(eps=0, swap=True); LossKit's Euclidean clamps d^2 at 1e-12 "
                              "instead of adding eps to the difference (the same here: no coincident rows)",
                      "params": {"loss": "triplet", "metric": "euclidean", "margin": margin, "soft_margin": False,
                                 "improved": False, "swap": True, "normalize": False, "reduction": reduction},
                      "inputs": {"queries": tensor(x32), "references": tensor(y32), "anchors": ints(anchors.tolist()),
                                 "positives": ints(positives.tolist()), "negatives": ints(negatives.tolist())},
                      "expected": {"loss": tensor(value.detach()), "grad_queries": tensor(x.grad),
                                   "grad_references": tensor(y.grad)}})
    # quadruplets (Chen et al. 2017) by index, as losskit_quadruplet on the gathered rows
    for case, (metric, margin1, margin2, normalize, reduction) in enumerate([
            ("euclidean", 1.0, 0.5, False, "mean"), ("sqeuclidean", 3.0, 2.0, False, "sum"),
            ("cosine", 0.4, 0.2, False, "none"), ("euclidean", 0.8, 0.6, True, "mean")]):
        x32 = torch.randn(q, d, generator=gen, dtype=torch.float32)
        y32 = torch.randn(m, d, generator=gen, dtype=torch.float32)
        anchors = torch.randint(0, q, (t,), generator=gen)
        positives = torch.randint(0, m, (t,), generator=gen)
        negatives1 = (positives + 1 + torch.randint(0, m - 1, (t,), generator=gen)) % m
        negatives2 = (negatives1 + 1 + torch.randint(0, m - 1, (t,), generator=gen)) % m
        x, y = x32.double().requires_grad_(), y32.double().requires_grad_()
        xn, yn = (F.normalize(x, dim=1), F.normalize(y, dim=1)) if normalize else (x, y)
        a, p, n1, n2 = xn[anchors], yn[positives], yn[negatives1], yn[negatives2]
        d_ap = pair_distances(metric, a, p)
        per = torch.relu(d_ap - pair_distances(metric, a, n1) + margin1) + torch.relu(d_ap - pair_distances(metric, n1, n2) + margin2)
        value = per.mean() if reduction == "mean" else per.sum()
        value.backward()
        expected = {"loss": tensor(value.detach()), "grad_queries": tensor(x.grad), "grad_references": tensor(y.grad)}
        if reduction == "none":
            expected["per_triplet"] = tensor(per.detach())
        cases.append({"name": f"quadruplet_{metric}{'_normalized' if normalize else ''}_{reduction}_{case}",
                      "params": {"loss": "quadruplet", "metric": metric, "margin1": margin1, "margin2": margin2,
                                 "normalize": normalize, "reduction": reduction},
                      "inputs": {"queries": tensor(x32), "references": tensor(y32), "anchors": ints(anchors.tolist()),
                                 "positives": ints(positives.tolist()), "negatives1": ints(negatives1.tolist()),
                                 "negatives2": ints(negatives2.tolist())},
                      "expected": expected})
    out = {"op": "reference_pairs",
           "reference": f"torch {torch.__version__} autograd in float64 on the float32 inputs (pml ContrastiveLoss "
                        "with ref_emb written out in torch; torch.nn.TripletMarginLoss(swap=True))", "cases": cases}
    with open(TARGET, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
