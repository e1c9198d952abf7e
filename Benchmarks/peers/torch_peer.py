#!/usr/bin/env python3
"""PyTorch peer timings for the workloads of Benchmarks/README.md, on this machine.

Same shapes and input distributions as `make bench`, forward + backward via
autograd unless the workload is forward only, median ms of >= 5 runs after a
warm-up, at torch.set_num_threads(1) and (2). torchvision's formulas
(sigmoid_focal_loss, box_iou) and ssd.pytorch's MultiBoxLoss are written
here in torch ops, so only torch is needed.

The fused elementwise workloads (focal, Smooth L1, Wing, shrinkage, softmax
CE) are timed twice: eager (path "torch") and under torch.compile (path
"torch-compiled": Inductor fuses forward and backward into vectorized C++,
the strongest peer a speed-minded user would pick; it needs a C++ compiler).
Each thread count compiles afresh, since Inductor fixes its OpenMP thread
count when it generates the code; the compile itself is the warm-up.

    python3 Benchmarks/peers/torch_peer.py [--json] [--filter NAME] [--threads 1,2] [--quick] [--no-compile]
"""
import argparse, json, math, statistics, time

import torch
import torch.nn.functional as F

# sibling scripts (Python puts the script's directory on sys.path): their row names, for --filter
import make_coco_fixture
import reid_peer


def maybe_compile(fn, compiled):
    return torch.compile(fn) if compiled else fn


def focal_8m(q, compiled=False):
    n = 8_000_000 // (16 if q else 1)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(n, generator=g) * 3).requires_grad_()
    t = (torch.rand(n, generator=g) < 0.01).float()
    def loss(x, t):
        p = torch.sigmoid(x)  # torchvision.ops.sigmoid_focal_loss
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * ((1 - p_t) ** 2)
        return ((0.25 * t + 0.75 * (1 - t)) * loss).sum()
    f = maybe_compile(loss, compiled)
    def run():
        x.grad = None
        f(x, t).backward()
    return run


def pair(n, gen):
    g = torch.Generator().manual_seed(1)
    a, b = gen(n, g)
    return a.requires_grad_(), b


def elementwise(x, t, loss, compiled):
    """run(): the gradient of loss(x, t) with respect to x, eager or compiled."""
    f = maybe_compile(loss, compiled)
    def run():
        x.grad = None
        f(x, t).backward()
    return run


def smooth_l1_4m(q, compiled=False):
    x, t = pair(4_000_000 // (16 if q else 1), lambda n, g: (torch.randn(n, generator=g) * 2, torch.randn(n, generator=g) * 2))
    return elementwise(x, t, lambda x, t: F.smooth_l1_loss(x, t, beta=1.0), compiled)


def wing_4m(q, compiled=False):
    x, t = pair(4_000_000 // (16 if q else 1), lambda n, g: (torch.randn(n, generator=g) * 8, torch.zeros(n)))
    w, eps = 10.0, 2.0
    c = w - w * math.log(1 + w / eps)
    def loss(x, t):
        a = (x - t).abs()
        return torch.where(a < w, w * torch.log1p(a / eps), a - c).mean()
    return elementwise(x, t, loss, compiled)


def shrinkage_4m(q, compiled=False):
    x, t = pair(4_000_000 // (16 if q else 1), lambda n, g: (torch.rand(n, generator=g), torch.rand(n, generator=g)))
    def loss(x, t):
        l = (x - t).abs()
        return (torch.exp(t) * l * l / (1 + torch.exp(10 * (0.2 - l)))).mean()
    return elementwise(x, t, loss, compiled)


def softmax_ce(q, compiled=False):
    rows = 279_424 // (16 if q else 1)
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(rows, 21, generator=g) * 2).requires_grad_()
    y = torch.randint(0, 21, (rows,), generator=g)
    return elementwise(x, y, lambda x, y: F.cross_entropy(x, y, reduction="sum"), compiled)


def softmax_ce_soft(q, compiled=False):
    """F.cross_entropy with probability targets (soft labels: mixup, distillation)."""
    rows = 279_424 // (16 if q else 1)
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(rows, 21, generator=g) * 2).requires_grad_()
    t = torch.rand(rows, 21, generator=g)
    return elementwise(x, t, lambda x, t: F.cross_entropy(x, t, reduction="sum"), compiled)


def random_boxes(n, g, lo=4, hi=120):
    xy = torch.rand(n, 2, generator=g) * 280
    wh = lo + torch.rand(n, 2, generator=g) * (hi - lo)
    return torch.cat([xy, xy + wh], 1)


def box_iou(a, b):  # torchvision.ops.box_iou
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[:, :2])
    rb = torch.min(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter / (area1[:, None] + area2 - inter)


def box_iou_100k(q):
    g = torch.Generator().manual_seed(3)
    a, b = random_boxes(100_000 // (10 if q else 1), g), random_boxes(100, g)
    def run():
        with torch.no_grad():
            box_iou(a, b)
    return run


def ssd300_priors():
    maps, steps = [38, 19, 10, 5, 3, 1], [8, 16, 32, 64, 100, 300]
    mins, maxs = [30, 60, 111, 162, 213, 264], [60, 111, 162, 213, 264, 315]
    ratios = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    out = []
    for k, f in enumerate(maps):
        for i in range(f):
            for j in range(f):
                fk = 300 / steps[k]
                cx, cy = (j + 0.5) / fk, (i + 0.5) / fk
                s = mins[k] / 300
                sp = math.sqrt(s * maxs[k] / 300)
                out += [[cx, cy, s, s], [cx, cy, sp, sp]]
                for r in ratios[k]:
                    out += [[cx, cy, s * math.sqrt(r), s / math.sqrt(r)], [cx, cy, s / math.sqrt(r), s * math.sqrt(r)]]
    return torch.tensor(out)


def multibox(q):  # ssd.pytorch MultiBoxLoss
    batch, classes = (4 if q else 32), 21
    priors = ssd300_priors()
    P = priors.shape[0]
    g = torch.Generator().manual_seed(4)
    loc = torch.randn(batch, P, 4, generator=g).requires_grad_()
    conf = (torch.randn(batch, P, classes, generator=g) * 2).requires_grad_()
    targets = []
    for _ in range(batch):
        xy = torch.rand(6, 2, generator=g) * 0.7
        wh = 0.05 + torch.rand(6, 2, generator=g) * 0.25
        targets.append((torch.cat([xy, xy + wh], 1), torch.randint(0, classes - 1, (6,), generator=g)))
    corners = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], 1)

    def run():
        loc.grad = conf.grad = None
        loc_t = torch.zeros(batch, P, 4)
        conf_t = torch.zeros(batch, P, dtype=torch.long)
        for b, (truths, labels) in enumerate(targets):
            overlaps = box_iou(truths, corners)
            best_prior_overlap, best_prior_idx = overlaps.max(1)
            best_truth_overlap, best_truth_idx = overlaps.max(0)
            best_truth_overlap.index_fill_(0, best_prior_idx, 2)
            for j in range(best_prior_idx.size(0)):
                best_truth_idx[best_prior_idx[j]] = j
            matches = truths[best_truth_idx]
            c = labels[best_truth_idx] + 1
            c[best_truth_overlap < 0.5] = 0
            g_cxcy = (matches[:, :2] + matches[:, 2:]) / 2 - priors[:, :2]
            g_cxcy = g_cxcy / (0.1 * priors[:, 2:])
            g_wh = torch.log((matches[:, 2:] - matches[:, :2]) / priors[:, 2:]) / 0.2
            loc_t[b] = torch.cat([g_cxcy, g_wh], 1)
            conf_t[b] = c
        pos = conf_t > 0
        loss_l = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum")
        batch_conf = conf.view(-1, classes)
        lse = torch.logsumexp(batch_conf, 1, keepdim=True)
        loss_c = (lse - batch_conf.gather(1, conf_t.view(-1, 1))).detach()
        loss_c[pos.view(-1, 1)] = 0
        loss_c = loss_c.view(batch, -1)
        _, loss_idx = loss_c.sort(1, descending=True)
        _, idx_rank = loss_idx.sort(1)
        num_pos = pos.long().sum(1, keepdim=True)
        num_neg = torch.clamp(3 * num_pos, max=P - 1)
        neg = idx_rank < num_neg.expand_as(idx_rank)
        sel = (pos | neg)
        loss_c = F.cross_entropy(conf[sel], conf_t[sel], reduction="sum")
        n = num_pos.sum()
        (loss_l / n + loss_c / n).backward()
    return run


def cdist(q):
    n = 512 if q else 4096
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(n, 512, generator=g), torch.randn(n, 512, generator=g)
    def run():
        with torch.no_grad():
            torch.cdist(x, y)
    return run


def trihard(p_ids, dim):  # reid-strong-baseline: euclidean_dist + hard_example_mining + MarginRankingLoss(0.3)
    def make(q):
        p = max(8, p_ids // 16) if q else p_ids
        g = torch.Generator().manual_seed(13)
        centers = 0.3 * torch.randn(p, 1, dim, generator=g)  # as `make bench`: nearly every triplet active
        x = (centers + torch.randn(p, 4, dim, generator=g)).reshape(4 * p, dim).requires_grad_()
        labels = torch.arange(p).repeat_interleave(4)
        n = 4 * p
        def run():
            x.grad = None
            xx = x.pow(2).sum(1, keepdim=True).expand(n, n)
            dist = (xx + xx.t()).addmm(x, x.t(), beta=1, alpha=-2).clamp(min=1e-12).sqrt()
            is_pos = labels.expand(n, n).eq(labels.expand(n, n).t())
            dist_ap, _ = torch.max(dist[is_pos].contiguous().view(n, -1), 1, keepdim=True)
            dist_an, _ = torch.min(dist[~is_pos].contiguous().view(n, -1), 1, keepdim=True)
            F.margin_ranking_loss(dist_an, dist_ap, torch.ones_like(dist_an), margin=0.3).backward()
        return run
    return make


def labelled_reference_sets(seed, nq, nr, ids, dim=128, std=1.0):
    """Queries and references ~N(0, std^2) (both requiring grad), query labels
    uniform over ids, reference j of identity j mod ids: the inputs of the
    reference-set rows, drawn in `make bench`'s order."""
    g = torch.Generator().manual_seed(seed)
    xq = (torch.randn(nq, dim, generator=g) * std).requires_grad_()
    xr = (torch.randn(nr, dim, generator=g) * std).requires_grad_()
    ql = torch.randint(0, ids, (nq,), generator=g)
    return xq, ql, xr, torch.arange(nr) % ids


def trihard_ref(q):
    """trihard_ref_4096x65536x128: reid-strong-baseline's hard_example_mining
    generalized to a reference set (pytorch-metric-learning's ref_emb): the
    torch.cdist matrix of queries against references, the hardest positive and
    negative per query by masked max / min, MarginRankingLoss(0.3), backward
    to both sets. Shapes and distributions as `make bench`."""
    xq, ql, xr, rl = labelled_reference_sets(29, *((512, 8192, 2048) if q else (4096, 65536, 16384)))
    def run():
        xq.grad = xr.grad = None
        dist = torch.cdist(xq, xr)
        is_pos = ql[:, None].eq(rl[None, :])
        dist_ap, _ = dist.masked_fill(~is_pos, float("-inf")).max(1)
        dist_an, _ = dist.masked_fill(is_pos, float("inf")).min(1)
        F.margin_ranking_loss(dist_an, dist_ap, torch.ones_like(dist_an), margin=0.3).backward()
    return run


def contrastive_ref(q):
    """contrastive_ref_1024x16384x128: pytorch-metric-learning's ContrastiveLoss
    (pos_margin 0, neg_margin 1, AvgNonZeroReducer) of queries against a
    reference set (ref_emb), in torch ops: torch.cdist, the positive and
    negative hinges masked by label, each averaged over its terms > 0;
    backward to both sets. Shapes and distributions as `make bench`."""
    xq, ql, xr, rl = labelled_reference_sets(31, *((256, 4096, 1024) if q else (1024, 16384, 4096)), std=1 / 16)
    def run():
        xq.grad = xr.grad = None
        dist = torch.cdist(xq, xr)
        is_pos = ql[:, None].eq(rl[None, :])
        pos = torch.where(is_pos, F.relu(dist), 0.0)
        neg = torch.where(is_pos, 0.0, F.relu(1.0 - dist))
        loss = pos.sum() / (pos > 0).sum().clamp(min=1) + neg.sum() / (neg > 0).sum().clamp(min=1)
        loss.backward()
    return run


def triplet_swap_ref(q):
    """triplet_swap_ref_200k_x128: torch.nn.functional.triplet_margin_loss(swap=True,
    margin 0.3, mean) on 200,000 triplets given by index (anchors rows of the
    queries, positives and negatives rows of the references), backward to both
    sets through the gathers. Shapes and distributions as `make bench`."""
    nq, nr, t, dim = (1024, 16384, 25_000, 128) if q else (4096, 65536, 200_000, 128)
    g = torch.Generator().manual_seed(37)
    xq = torch.randn(nq, dim, generator=g).requires_grad_()
    xr = torch.randn(nr, dim, generator=g).requires_grad_()
    a = torch.randint(0, nq, (t,), generator=g)
    p = torch.randint(0, nr, (t,), generator=g)
    n = torch.randint(0, nr, (t,), generator=g)
    def run():
        xq.grad = xr.grad = None
        F.triplet_margin_loss(xq[a], xr[p], xr[n], margin=0.3, swap=True).backward()
    return run


WORKLOADS = {
    "focal_8M": focal_8m, "smooth_l1_4M": smooth_l1_4m, "wing_4M": wing_4m, "shrinkage_4M": shrinkage_4m,
    "softmax_ce_279k_x21": softmax_ce, "softmax_ce_soft_279k_x21": softmax_ce_soft, "cdist_4096x4096x512": cdist, "box_iou_100k_x100": box_iou_100k, "multibox_ssd300_b32": multibox,
    "trihard_256x2048": trihard(64, 2048), "trihard_4096x512": trihard(1024, 512), "trihard_16384x128": trihard(4096, 128),
    "trihard_ref_4096x65536x128": trihard_ref, "contrastive_ref_1024x16384x128": contrastive_ref,
    "triplet_swap_ref_200k_x128": triplet_swap_ref,
}


# Rows timed by the other peer scripts `make bench-peers` runs, so that --filter knows them.
OTHER_PEERS_WORKLOADS = list(reid_peer.WORKLOADS) + [make_coco_fixture.BENCH_ROW]


# The fused elementwise losses, also timed under torch.compile.
COMPILABLE = {"focal_8M", "smooth_l1_4M", "wing_4M", "shrinkage_4M", "softmax_ce_279k_x21", "softmax_ce_soft_279k_x21"}


def time_runs(run, count):
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--filter")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile timings")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if args.filter and args.filter not in WORKLOADS:
        # `make bench-peers ARGS="--filter NAME"` passes NAME to every peer script: one
        # that belongs to reid_peer.py or the COCO peer is theirs, anything else a typo
        if args.filter in OTHER_PEERS_WORKLOADS:
            return
        names = list(WORKLOADS) + OTHER_PEERS_WORKLOADS
        raise SystemExit(f"no workload named {args.filter}; the workloads are: {', '.join(names)}")
    if not args.json:
        print(f"PyTorch {torch.__version__} (CPU), medians of 5 runs after a warm-up")
    suffix = "_quick" if args.quick else ""  # as losskit-bench names its --quick rows
    for name, make in WORKLOADS.items():
        if args.filter and name != args.filter:
            continue
        run = make(args.quick)
        # the largest TriHards take ~20 s a run: 3 runs there
        count = 1 if args.quick else (3 if name in ("trihard_16384x128", "trihard_ref_4096x65536x128") else 5)
        for t in threads:
            torch.set_num_threads(t)
            variants = [("torch", run)]
            if name in COMPILABLE and not args.no_compile:
                torch._dynamo.reset()  # Inductor fixes the thread count in the code it generates
                variants.append(("torch-compiled", make(args.quick, compiled=True)))
            for path, body in variants:
                body()
                if path == "torch-compiled":
                    body()  # the first call compiled forward and backward; one more settles it
                times = time_runs(body, count)
                row = {"workload": name + suffix, "path": path, "threads": t, "ms": statistics.median(times),
                       "min_ms": min(times), "max_ms": max(times)}
                print(json.dumps(row) if args.json else f"{name + suffix:22s} {path:14s} {t:3d} {row['ms']:10.2f} ms",
                      flush=True)
    if not args.json:
        import resource
        print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")


if __name__ == "__main__":
    main()
