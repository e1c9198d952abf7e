"""Writes Tests/LossKitTests/Fixtures/trihard_reference.json: TriHard of
queries against a reference set, by PyTorch in float64 from float32-rounded
inputs, the way pytorch-metric-learning (ref_emb / ref_labels with a batch-hard
miner) and reid-strong-baseline (hard_example_mining) mine it: the full
q x m distance matrix, masked max / min (the first index on ties, as
torch.max / torch.min return), a query never its own candidate where a
reference is marked as that query, margin hinge (MarginRankingLoss) or
softplus (SoftMarginLoss / pml's smooth_loss, with a margin term), rows
normalized by torch.nn.functional.normalize (reid's normalize_feature), and
the gradients with respect to the queries and the references by autograd.

Semi-hard is FaceNet's rule as LossKit defines it: the closest negative
farther than the hardest positive, else the closest. Distances are LossKit's
DistanceMetric: sqrt(max(d^2, 1e-12)), d^2, or 1 - cosine with norms floored
at 1e-8. Run from the repository root with PyTorch installed:

    python3 Benchmarks/peers/make_reference_trihard_fixture.py
"""
import json

import torch
import torch.nn.functional as F

TARGET = "Tests/LossKitTests/Fixtures/trihard_reference.json"


def distances(metric, x, y):
    if metric == "cosine":
        nx = x.norm(dim=1).clamp(min=1e-8)
        ny = y.norm(dim=1).clamp(min=1e-8)
        return 1 - (x @ y.T) / (nx[:, None] * ny[None, :])
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return d2 if metric == "sqeuclidean" else d2.clamp(min=1e-12).sqrt()


def trihard(queries, labels, refs, ref_labels, marks, p):
    x = queries.double().requires_grad_()
    y = refs.double().requires_grad_()
    xs, ys = (F.normalize(x, dim=1), F.normalize(y, dim=1)) if p["normalize"] else (x, y)
    dist = distances(p["metric"], xs, ys)
    q = x.shape[0]
    same = labels[:, None] == ref_labels[None, :]
    self_mark = marks[None, :] == torch.arange(q)[:, None]
    pos_mask = same & ~self_mark
    neg_mask = ~same & ~self_mark
    big = torch.tensor(float("inf"), dtype=torch.float64)
    dd = dist.detach()
    ap_val, ap_idx = torch.where(pos_mask, dd, -big).max(dim=1)
    an_val, an_idx = torch.where(neg_mask, dd, big).min(dim=1)
    if p["mining"] == "semihard":
        semi = neg_mask & (dd > ap_val[:, None])
        s_val, s_idx = torch.where(semi, dd, big).min(dim=1)
        an_idx = torch.where(semi.any(dim=1), s_idx, an_idx)
    kept = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    rows = torch.arange(q)
    margin = torch.tensor(p["margin"], dtype=torch.float32).double()
    z = dist[rows, ap_idx] - dist[rows, an_idx] + margin
    per = F.softplus(z) if p["soft"] else F.relu(z)
    per = torch.where(kept, per, torch.zeros_like(per))
    if p["reduction"] == "mean":
        divisor = p.get("mean_count") or int(kept.sum())
        loss = per.sum() / divisor if divisor > 0 else per.sum() * 0
    else:
        loss = per.sum()
    loss.backward()
    pos = torch.where(kept, ap_idx, -1)
    neg = torch.where(kept, an_idx, -1)
    return loss, per, x.grad, y.grad, pos, neg


def tensor(t):
    # 9 significant digits: float32 inputs exactly, float64 results far past what float32 can hold
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.flatten().tolist()]}


def ints(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.flatten().tolist()]}


def clustered(gen, labels, d, spread=0.7):
    centers = torch.randn(int(labels.max()) + 1, d, generator=gen)
    return (centers[labels] + spread * torch.randn(len(labels), d, generator=gen)).float()


def main():
    gen = torch.Generator().manual_seed(14)
    base = {"metric": "euclidean", "margin": 0.3, "soft": False, "mining": "hardest", "normalize": False,
            "reduction": "mean"}
    cases = []

    def add(name, queries, labels, refs, ref_labels, marks, note=None, **params):
        p = dict(base, **params)
        loss, per, gq, gr, pos, neg = trihard(queries, labels, refs, ref_labels, marks, p)
        case = {"name": name, "params": p,
                "inputs": {"queries": tensor(queries), "labels": ints(labels), "references": tensor(refs),
                           "reference_labels": ints(ref_labels), "reference_query": ints(marks)},
                "expected": {"loss": tensor(loss.detach()), "per_query": tensor(per.detach()),
                             "grad_queries": tensor(gq), "grad_references": tensor(gr),
                             "hardest_positive": ints(pos), "hardest_negative": ints(neg)}}
        if note:
            case["note"] = note
        cases.append(case)

    # a gallery: 7 queries against 24 unmarked references of 5 identities, d = 6
    d = 6
    q_labels = torch.tensor([0, 0, 1, 2, 3, 3, 4])
    r_labels = torch.randint(0, 5, (24,), generator=gen)
    r_labels[:5] = torch.arange(5)
    r_labels[5:10] = torch.arange(5)
    allq = clustered(gen, torch.cat([q_labels, r_labels]), d)
    queries, refs = allq[:7].contiguous(), allq[7:].contiguous()
    none = torch.full((24,), -1)
    add("gallery_euclidean_hinge", queries, q_labels, refs, r_labels, none)
    add("gallery_euclidean_soft_margin0.2", queries, q_labels, refs, r_labels, none, soft=True, margin=0.2)
    add("gallery_euclidean_soft_margin0", queries, q_labels, refs, r_labels, none, soft=True, margin=0.0)
    add("gallery_sqeuclidean_hinge", queries, q_labels, refs, r_labels, none, metric="sqeuclidean", margin=1.0)
    add("gallery_cosine_hinge", queries, q_labels, refs, r_labels, none, metric="cosine", margin=0.1)
    add("gallery_semihard", queries, q_labels, refs, r_labels, none, mining="semihard", margin=0.5)
    add("gallery_normalize_hinge", queries, q_labels, refs, r_labels, none, normalize=True, margin=0.2)
    add("gallery_normalize_soft", queries, q_labels, refs, r_labels, none, normalize=True, soft=True, margin=0.1)
    add("gallery_sum", queries, q_labels, refs, r_labels, none, reduction="sum")
    add("gallery_none", queries, q_labels, refs, r_labels, none, reduction="none")
    add("gallery_mean_count_20", queries, q_labels, refs, r_labels, none, mean_count=20,
        note="mean divides by mean_count (the anchors kept on every process of a data-parallel step)")

    # a memory that holds the batch: 12 memory rows, then the 6 queries, marked
    b_labels = torch.tensor([0, 0, 1, 1, 2, 5])  # identity 5: its only same-label reference is itself
    m_labels = torch.randint(0, 4, (12,), generator=gen)
    rows = clustered(gen, torch.cat([m_labels, b_labels]), 5)
    batch = rows[12:].contiguous()
    refs = rows.contiguous()
    marks = torch.cat([torch.full((12,), -1), torch.arange(6)])
    add("memory_plus_batch_marked", batch, b_labels, refs, torch.cat([m_labels, b_labels]), marks,
        note="query 5's only positive would be itself: skipped")
    add("memory_plus_batch_marked_normalize_semihard", batch, b_labels, refs, torch.cat([m_labels, b_labels]), marks,
        normalize=True, mining="semihard", margin=0.1)

    # an unmarked copy of a query among the references is another sample: a positive at distance 0
    pick = torch.tensor([0, 1, 2, 5])
    copies = torch.cat([batch[pick], refs[:12]]).contiguous()
    copy_labels = torch.cat([b_labels[pick], m_labels])
    add("unmarked_copies", batch, b_labels, copies, copy_labels, torch.full((16,), -1),
        note="references 0-3 equal queries 0, 1, 2, 5, unmarked: other samples with the same features; query 5's "
             "only positive is its copy, at distance sqrt(1e-12) with gradient 0 under the clamp")

    # the batch as its own references: equals the batch TriHard
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    x = clustered(gen, labels, 8)
    add("batch_as_references", x, labels, x, labels, torch.arange(12))
    add("batch_as_references_normalize_soft", x, labels, x, labels, torch.arange(12), normalize=True, soft=True,
        margin=0.0)

    out = {"op": "trihard_reference",
           "reference": f"torch {torch.__version__} in float64 on the float32 inputs, masked max / min and autograd",
           "cases": cases}
    with open(TARGET, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
