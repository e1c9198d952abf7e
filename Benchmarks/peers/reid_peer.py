#!/usr/bin/env python3
"""Peer timings of the re-id evaluation rows of Benchmarks/README.md:
reid-strong-baseline's evaluation as it runs (R1_mAP: torch distance matrix
through addmm, then eval_func: a full numpy argsort of the query x gallery
matrix and a Python loop over queries) and the original k-reciprocal
re-ranking (the (Q+G)^2 distance matrix, its full argsort, dense float16 V
and a dense Jaccard pass), on the generated Market-1501-sized data of
`losskit-bench` (3,368 x 15,913, 2048-d, 750 identities, 6 cameras; the
same distribution, not the same numbers). The steps are written here from
the peers' published semantics; one run each (60-95 s), at
torch.set_num_threads(1), each workload in a process of its own so its peak
resident memory is its own.

    python3 Benchmarks/peers/reid_peer.py [--json] [--filter NAME] [--quick]
"""
import argparse, json, resource, subprocess, sys, time

import numpy as np
import torch


def market_like(quick):
    q, g, d, ids = (337, 1591, 256, 75) if quick else (3368, 15913, 2048, 750)
    rng = np.random.default_rng(1501)
    centres = rng.normal(size=(ids, d)).astype(np.float32)
    distractors = g * 2793 // 15913
    q_ids = np.arange(q) % ids + 1
    g_ids = np.concatenate([np.zeros(distractors, np.int64), (np.arange(g - distractors) % ids) + 1])
    def feats(pids):
        base = np.where(pids[:, None] > 0, centres[np.maximum(pids, 1) - 1], 0)
        return np.maximum(0, base + rng.normal(scale=2.8, size=(len(pids), d))).astype(np.float32)
    return (torch.from_numpy(feats(q_ids)), torch.from_numpy(feats(g_ids)), q_ids, rng.integers(1, 7, q),
            g_ids, rng.integers(1, 7, g))


def eval_func(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """reid-strong-baseline's eval_func: argsort every row, then a loop over queries."""
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP = [], []
    for q_idx in range(num_q):
        order = indices[q_idx]
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        orig_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(orig_cmc):
            continue
        cmc = orig_cmc.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_rel = orig_cmc.sum()
        tmp_cmc = orig_cmc.cumsum()
        tmp_cmc = [x / (i + 1.) for i, x in enumerate(tmp_cmc)]  # a Python loop over the gallery, as eval_func has it
        tmp_cmc = np.asarray(tmp_cmc) * orig_cmc
        all_AP.append(tmp_cmc.sum() / num_rel)
    return np.asarray(all_cmc).astype(np.float32).sum(0) / len(all_cmc), np.mean(all_AP)


def r1_map(qf, gf, q_ids, q_cams, g_ids, g_cams):
    feats = torch.nn.functional.normalize(torch.cat([qf, gf]), dim=1, p=2)
    qf, gf = feats[: len(qf)], feats[len(qf):]
    m, n = qf.shape[0], gf.shape[0]
    distmat = torch.pow(qf, 2).sum(dim=1, keepdim=True).expand(m, n) + \
        torch.pow(gf, 2).sum(dim=1, keepdim=True).expand(n, m).t()
    distmat = torch.addmm(distmat, qf, gf.t(), beta=1, alpha=-2).numpy()
    return eval_func(distmat, q_ids, g_ids, q_cams, g_cams)


def re_ranking(probFea, galFea, k1=20, k2=6, lambda_value=0.3):
    """The original re-ranking's steps: dense (Q+G)^2 matrices, float16 V."""
    query_num, all_num = probFea.size(0), probFea.size(0) + galFea.size(0)
    feat = torch.cat([probFea, galFea])
    sq = torch.pow(feat, 2).sum(dim=1, keepdim=True).expand(all_num, all_num)
    original_dist = torch.addmm(sq + sq.t(), feat, feat.t(), beta=1, alpha=-2).numpy()
    del feat, sq
    original_dist = np.transpose(original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float16)
    initial_rank = np.argsort(original_dist).astype(np.int32)
    half = int(np.around(k1 / 2))
    for i in range(all_num):
        fwd = initial_rank[i, : k1 + 1]
        rec = fwd[np.where(initial_rank[fwd, : k1 + 1] == i)[0]]
        expansion = rec
        for c in rec:
            cf = initial_rank[c, : half + 1]
            crec = cf[np.where(initial_rank[cf, : half + 1] == c)[0]]
            if len(np.intersect1d(crec, rec)) > 2 / 3 * len(crec):
                expansion = np.append(expansion, crec)
        expansion = np.unique(expansion)
        w = np.exp(-original_dist[i, expansion])
        V[i, expansion] = w / np.sum(w)
    original_dist = original_dist[:query_num]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float16)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    inv = [np.where(V[:, i] != 0)[0] for i in range(all_num)]
    jaccard = np.zeros_like(original_dist, dtype=np.float16)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, all_num], dtype=np.float16)
        nz = np.where(V[i, :] != 0)[0]
        for j in nz:
            temp_min[0, inv[j]] = temp_min[0, inv[j]] + np.minimum(V[i, j], V[inv[j], j])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    final = jaccard * (1 - lambda_value) + original_dist * lambda_value
    return final[:query_num, query_num:]


def rerank_then_eval(qf, gf, q_ids, q_cams, g_ids, g_cams):
    feats = torch.nn.functional.normalize(torch.cat([qf, gf]), dim=1, p=2)
    distmat = re_ranking(feats[: len(qf)], feats[len(qf):])
    return eval_func(distmat, q_ids, g_ids, q_cams, g_cams)


WORKLOADS = {"reid_eval_3368x15913x2048": r1_map, "rerank_3368x15913x2048": rerank_then_eval}


def run_one(name, quick, as_json):
    torch.set_num_threads(1)
    data = market_like(quick)
    t0 = time.perf_counter()
    cmc, mAP = WORKLOADS[name](*data)
    ms = (time.perf_counter() - t0) * 1e3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    row = {"workload": name + ("_quick" if quick else ""), "path": "reid-strong-baseline", "threads": 1, "ms": ms,
           "min_ms": ms, "max_ms": ms, "peak_rss_mib": rss, "mAP": float(mAP), "rank1": float(cmc[0])}
    print(json.dumps(row) if as_json else f"{row['workload']:30s} {ms:10.0f} ms  peak {rss} MiB  "
          f"mAP {mAP:.4f} rank-1 {cmc[0]:.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--filter")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a single workload in this process
    # make bench-peers passes torch_peer.py's flags here too: one thread only, nothing to compile
    ap.add_argument("--threads", help="ignored: these rows run at 1 thread")
    ap.add_argument("--no-compile", action="store_true", help="ignored")
    args = ap.parse_args()
    if args.one:
        return run_one(args.one, args.quick, args.json)
    for name in WORKLOADS:
        if args.filter and name != args.filter:
            continue
        extra = (["--json"] if args.json else []) + (["--quick"] if args.quick else [])
        subprocess.run([sys.executable, __file__, "--one", name] + extra, check=True)


if __name__ == "__main__":
    main()
