"""Writes Tests/LossKitTests/Fixtures/reid_eval.json and landmark_eval.json:
re-id CMC / mAP as reid-strong-baseline's eval_func computes them (and the
official Market-1501 AP), k-reciprocal re-ranking with the semantics of its
utils/re_ranking.py (float32 where it keeps float16; every item its own
nearest neighbour, other ties by index), and landmark NME / AUC / failure
rate as mmpose's keypoint_nme. Written here with numpy from the peers'
definitions (their code is not copied). Run from the repository root:

    /work/torch-venv/bin/python Benchmarks/peers/make_reid_eval_fixture.py
"""
import json

import numpy as np

RNG = np.random.default_rng(15)


def tensor(a):
    a = np.asarray(a)
    data = [None if (isinstance(v, float) and np.isnan(v)) else v for v in a.flatten().tolist()]
    if a.dtype == np.float32:  # float32 inputs exactly; float64 results keep every digit
        data = [None if v is None else float(f"{v:.9g}") for v in data]
    return {"shape": list(a.shape), "data": data}


def eval_func(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, official=False):
    """eval_func of reid-strong-baseline; junk (-1) gallery dropped as its loader does; ties by index."""
    keep_g = g_pids != -1
    g_index = np.nonzero(keep_g)[0]
    distmat, g_pids, g_camids = distmat[:, keep_g], g_pids[keep_g], g_camids[keep_g]
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc, all_ap, per_query, first = [], [], [], []
    for i in range(len(q_pids)):
        order = indices[i]
        remove = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        orig = matches[i][~remove]
        if not np.any(orig):
            per_query.append(float("nan"))
            first.append(-1)
            continue
        cmc = orig.cumsum()
        cmc[cmc > 1] = 1
        row = np.ones(max_rank)
        row[: min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(row)
        hits = np.nonzero(orig)[0]
        first.append(int(hits[0]))
        k = np.arange(len(hits))
        precision = (k + 1) / (hits + 1)
        if official:
            previous = np.where(hits == 0, 1.0, k / np.maximum(hits, 1))
            ap = np.mean((previous + precision) / 2)
        else:
            ap = np.mean(precision)
        all_ap.append(ap)
        per_query.append(ap)
    cmc = np.asarray(all_cmc).mean(0)
    return cmc, float(np.mean(all_ap)), np.array(per_query), np.array(first)


def normalized(x):
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def distances(x, y, metric):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    if metric == "euclidean":
        return np.sqrt(np.maximum(d2, 1e-12))
    if metric == "sqeuclidean":
        return d2
    nx = np.maximum(np.linalg.norm(x, axis=1), 1e-8)
    ny = np.maximum(np.linalg.norm(y, axis=1), 1e-8)
    return 1 - (x @ y.T) / (nx[:, None] * ny[None, :])


def re_ranking(q, g, k1, k2, lam):
    """k-reciprocal re-ranking, re_ranking.py's steps in float32 (V, V_qe, Jaccard)."""
    feat = np.concatenate([q, g]).astype(np.float64)
    n, nq = len(feat), len(q)
    dist = distances(feat, feat, "sqeuclidean").astype(np.float32)
    np.fill_diagonal(dist, 0)
    original = dist / dist.max(axis=1, keepdims=True)  # = transpose(dist / max over axis 0), dist symmetric
    ranked = original.copy()
    np.fill_diagonal(ranked, -1)  # itself first
    initial_rank = np.argsort(ranked, axis=1, kind="stable").astype(np.int32)
    V = np.zeros((n, n), dtype=np.float32)
    half = int(np.around(k1 / 2))
    for i in range(n):
        fwd = initial_rank[i, : k1 + 1]
        back = initial_rank[fwd, : k1 + 1]
        rec = fwd[np.where(back == i)[0]]
        expansion = rec
        for c in rec:
            cf = initial_rank[c, : half + 1]
            cb = initial_rank[cf, : half + 1]
            crec = cf[np.where(cb == c)[0]]
            if len(np.intersect1d(crec, rec)) > 2 / 3 * len(crec):
                expansion = np.append(expansion, crec)
        expansion = np.unique(expansion)
        w = np.exp(-original[i, expansion].astype(np.float64))
        V[i, expansion] = (w / w.sum()).astype(np.float32)
    if k2 != 1:
        Vq = np.zeros_like(V)
        for i in range(n):
            Vq[i] = V[initial_rank[i, :k2]].astype(np.float64).mean(0).astype(np.float32)
        V = Vq
    inv = [np.where(V[:, c] != 0)[0] for c in range(n)]
    jac = np.zeros((nq, n), dtype=np.float32)
    for i in range(nq):
        tmp = np.zeros(n, dtype=np.float32)
        nz = np.where(V[i] != 0)[0]
        for c in nz:
            tmp[inv[c]] = tmp[inv[c]] + np.minimum(V[i, c], V[inv[c], c])
        jac[i] = 1 - tmp / (2 - tmp)
    final = jac * np.float32(1 - lam) + original[:nq] * np.float32(lam)
    return final[:, nq:]


def reid_data(nq, ng, d, ids, cams, junk=0, lonely=0):
    centres = RNG.normal(size=(ids + 1, d))
    q_ids = RNG.integers(1, ids + 1, nq)
    g_ids = np.concatenate([RNG.integers(0, ids + 1, ng - junk), -np.ones(junk, dtype=np.int64)])
    RNG.shuffle(g_ids)
    q_ids[:lonely] = ids + 5  # identities nowhere in the gallery: skipped
    qf = centres[np.minimum(q_ids, ids)] + 0.9 * RNG.normal(size=(nq, d))
    gf = centres[np.maximum(g_ids, 0)] + 0.9 * RNG.normal(size=(ng, d))
    gf[g_ids == 0] = RNG.normal(size=(int((g_ids == 0).sum()), d)) * 1.5  # distractors
    scale = RNG.uniform(0.5, 3.0, size=(nq, 1))
    return ((qf * scale).astype(np.float32), gf.astype(np.float32), q_ids.astype(np.int64),
            RNG.integers(1, cams + 1, nq).astype(np.int64), g_ids.astype(np.int64),
            RNG.integers(1, cams + 1, ng).astype(np.int64))


def both_ap_forms(dist, qi, gi, qc, gc):
    """eval_func's CMC / mAP / AP and the official Market-1501 AP, as expected tensors."""
    expected = {}
    for kind, official in [("mean_precision", False), ("market1501", True)]:
        cmc, mAP, ap, first = eval_func(dist, qi, gi, qc, gc, official=official)
        expected.update({f"cmc_{kind}": tensor(cmc), f"map_{kind}": tensor(np.array(mAP)), f"ap_{kind}": tensor(ap),
                         "first_match": tensor(first)})
    return expected


def main():
    cases = []
    for name, metric, normalize, kw in [("euclidean_normalized", "euclidean", True, dict(junk=6, lonely=2)),
                                        ("cosine_raw", "cosine", False, dict(junk=0, lonely=1)),
                                        ("euclidean_raw", "euclidean", False, dict(junk=3, lonely=0))]:
        qf, gf, qi, qc, gi, gc = reid_data(37, 150, 24, 15, 6, **kw)
        x, y = (normalized(qf), normalized(gf)) if normalize else (qf, gf)
        dist = distances(x, y, metric)
        expected = {"distances": tensor(dist), **both_ap_forms(dist, qi, gi, qc, gc)}
        cases.append({"name": name, "params": {"metric": metric, "normalize": normalize},
                      "inputs": {"query": tensor(qf), "gallery": tensor(gf), "query_ids": tensor(qi),
                                 "query_cams": tensor(qc), "gallery_ids": tensor(gi), "gallery_cams": tensor(gc)},
                      "expected": expected})
    # exact ties: integer distances, many equal (the lower gallery index ranks first)
    qi = RNG.integers(0, 4, 25); qc = RNG.integers(0, 3, 25)
    gi = RNG.integers(-1, 4, 60); gc = RNG.integers(0, 3, 60)
    dist = RNG.integers(0, 4, (25, 60)).astype(np.float64)
    expected = both_ap_forms(dist, qi, gi, qc, gc)
    cases.append({"name": "ties_distance_matrix", "params": {},
                  "inputs": {"distances": tensor(dist), "query_ids": tensor(qi), "query_cams": tensor(qc),
                             "gallery_ids": tensor(gi), "gallery_cams": tensor(gc)}, "expected": expected})
    # re-ranking
    for name, k1, k2, lam, kw in [("rerank_default", 20, 6, 0.3, dict(junk=4, lonely=1)),
                                  ("rerank_k1_5_k2_1", 5, 1, 0.5, dict(junk=0, lonely=0))]:
        qf, gf, qi, qc, gi, gc = reid_data(30, 140, 16, 12, 6, **kw)
        keep = gi != -1
        final = np.full((len(qf), len(gf)), np.inf, dtype=np.float32)
        final[:, keep] = re_ranking(normalized(qf), normalized(gf[keep]), k1, k2, lam)
        cmc, mAP, ap, first = eval_func(final.astype(np.float64), qi, gi, qc, gc)
        cases.append({"name": name, "params": {"k1": k1, "k2": k2, "lambda": lam},
                      "inputs": {"query": tensor(qf), "gallery": tensor(gf), "query_ids": tensor(qi),
                                 "query_cams": tensor(qc), "gallery_ids": tensor(gi), "gallery_cams": tensor(gc)},
                      "expected": {"distances": tensor(np.where(np.isinf(final), np.float32(3e38), final)),
                                   "cmc": tensor(cmc), "map": tensor(np.array(mAP)), "ap": tensor(ap)}})
    json.dump({"op": "reid_eval", "reference": f"numpy {np.__version__}: reid-strong-baseline eval_func / "
               "re_ranking semantics (float32 V), official Market-1501 AP", "cases": cases},
              open("Tests/LossKitTests/Fixtures/reid_eval.json", "w"))

    # landmarks: mmpose keypoint_nme with each normalization
    lcases = []
    for name, k, norm, left, right, points, t in [("300w_inter_ocular", 68, "inter-ocular", 36, 45, 1, 0.08),
                                                  ("300w_inter_pupil", 68, "inter-pupil", 36, 42, 6, 0.08),
                                                  ("wflw_inter_ocular", 98, "inter-ocular", 60, 72, 1, 0.1),
                                                  ("wflw_bbox", 98, "bbox", 0, 0, 1, 0.1),
                                                  ("area", 19, "area", 0, 0, 1, 0.05)]:
        n = 40
        target = (RNG.uniform(20, 200, size=(n, 1, 2)) + RNG.normal(size=(n, k, 2)) * 30).astype(np.float32)
        pred = (target + RNG.normal(size=(n, k, 2)) * RNG.uniform(0.5, 8, size=(n, 1, 1))).astype(np.float32)
        tt, pp = target.astype(np.float64), pred.astype(np.float64)
        if norm == "inter-ocular":
            scale = np.linalg.norm(tt[:, left] - tt[:, right], axis=1)
        elif norm == "inter-pupil":
            scale = np.linalg.norm(tt[:, left:left + points].mean(1) - tt[:, right:right + points].mean(1), axis=1)
        else:
            w = tt[..., 0].max(1) - tt[..., 0].min(1)
            h = tt[..., 1].max(1) - tt[..., 1].min(1)
            scale = np.sqrt(w * w + h * h) if norm == "bbox" else np.sqrt(w * h)
        nme = np.linalg.norm(pp - tt, axis=2).mean(1) / scale
        lcases.append({"name": name, "params": {"norm": norm, "left": left, "right": right, "points": points,
                                                "threshold": t},
                       "inputs": {"pred": tensor(pred), "target": tensor(target)},
                       "expected": {"nme": tensor(nme), "mean": tensor(np.array(nme.mean())),
                                    "auc": tensor(np.array(np.mean(np.maximum(0, t - nme)) / t)),
                                    "failure": tensor(np.array(np.mean(nme > t)))}})
    json.dump({"op": "landmark_eval", "reference": f"numpy {np.__version__}: mmpose keypoint_nme, "
               "AUC = mean(max(0, t - NME)) / t, failure = share of NME > t", "cases": lcases},
              open("Tests/LossKitTests/Fixtures/landmark_eval.json", "w"))


if __name__ == "__main__":
    main()
