#!/usr/bin/env python3
"""Detection AP reference values and the COCO / VOC evaluation peers.

Generates COCO-format ground truth and detections (crowds, score ties, empty
images, categories without ground truth, detections without ground truth,
boxes whose area sits on an area-range border, difficult boxes) and evaluates
them with:
  - pycocotools (COCOeval, iouType "bbox"): the 12 numbers of summarize();
  - ssd.pytorch's voc_eval / voc_ap semantics, written here in numpy (the
    same steps; score ties by a stable sort, where ssd.pytorch's argsort
    leaves them unspecified; a class without detections scores 0, not -1).

  python make_coco_fixture.py            # writes Tests/LossKitTests/Fixtures/detection_ap.json
  python make_coco_fixture.py --bench    # times the peers on 5,000 images / 80 classes (JSON lines)
  python make_coco_fixture.py --write-bench-files DIR   # the bench data as gt.json / dt.json

Needs numpy and pycocotools (`make bench-peers` installs them); the package
tests never do.
"""
import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np


def generate(seed, num_images, num_cats, gt_per_image, dt_per_image, crowd_frac=0.01,
             empty_frac=0.05, score_decimals=2, integer_boxes=False, difficult_frac=0.0,
             first_gt_id=1, image_id_base=1):
    rng = np.random.default_rng(seed)
    cat_ids = [3 * k + 1 for k in range(num_cats)]  # not contiguous, as COCO's
    images = [{"id": image_id_base + 7 * i, "width": 640, "height": 480} for i in range(num_images)]
    rng.shuffle(images)  # file order is not id order
    anns, dets = [], []
    # the last category never gets ground truth
    gt_cats = cat_ids[:-1] if num_cats > 1 else cat_ids
    next_id = first_gt_id

    def box(area_hint=None):
        if area_hint is not None:
            s = np.sqrt(area_hint)
            w = h = float(s)
        else:
            scale = np.exp(rng.uniform(np.log(8), np.log(300)))
            aspect = np.exp(rng.uniform(-0.7, 0.7))
            w, h = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
        x, y = rng.uniform(0, 640 - min(w, 600)), rng.uniform(0, 480 - min(h, 440))
        if integer_boxes:
            return [float(round(x)), float(round(y)), float(max(1, round(w))), float(max(1, round(h)))]
        return [float(x), float(y), float(w), float(h)]

    for img in images:
        if rng.random() < empty_frac:
            ng = 0
        else:
            ng = int(rng.integers(1, 2 * gt_per_image))
        cats_here = list(rng.choice(gt_cats, size=min(3, len(gt_cats)), replace=False))
        gts = []
        for _ in range(ng):
            r = rng.random()
            if r < 0.06:
                b = box(area_hint=float(rng.choice([32 * 32, 96 * 96])))  # on a border
                area = b[2] * b[3]
            else:
                b = box()
                area = b[2] * b[3] * float(rng.uniform(0.4, 1.0))  # a mask's area is smaller
            g = {"id": next_id, "image_id": img["id"], "category_id": int(rng.choice(cats_here)),
                 "bbox": b, "area": float(area), "iscrowd": int(rng.random() < crowd_frac)}
            if difficult_frac > 0:
                g["difficult"] = int(rng.random() < difficult_frac)
            next_id += 1
            gts.append(g)
        anns += gts
        nd = dt_per_image if ng > 0 or rng.random() < 0.5 else 0
        for _ in range(nd):
            if gts and rng.random() < 0.5:
                g = gts[int(rng.integers(len(gts)))]
                x, y, w, h = g["bbox"]
                j = rng.normal(0, 0.12, 4)
                b = [x + j[0] * w, y + j[1] * h, max(0.0, w * (1 + j[2])), max(0.0, h * (1 + j[3]))]
                if integer_boxes:
                    b = [float(round(v)) for v in b]
                cat = g["category_id"] if rng.random() < 0.85 else int(rng.choice(cat_ids))
                if rng.random() < 0.05:  # an exact copy (IoU 1), or a copy of a border box
                    b = list(g["bbox"])
            else:
                b = box()
                cat = int(rng.choice(cats_here if rng.random() < 0.6 else cat_ids))
            score = round(float(rng.random()), score_decimals)  # ties
            dets.append({"image_id": img["id"], "category_id": cat, "bbox": [float(v) for v in b], "score": score})
    categories = [{"id": c, "name": "class_%d" % c, "supercategory": "thing"} for c in cat_ids]
    gt = {"images": images, "annotations": anns, "categories": categories}
    return gt, dets


def coco_stats(gt, dets, timing=False):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        cgt = COCO()
        cgt.dataset = json.loads(json.dumps(gt))
        cgt.createIndex()
        cdt = cgt.loadRes(json.loads(json.dumps(dets)))
        ev = COCOeval(cgt, cdt, "bbox")
        t0 = time.perf_counter()
        ev.evaluate()
        ev.accumulate()
        seconds = time.perf_counter() - t0
        ev.summarize()
    return (list(map(float, ev.stats)), seconds) if timing else list(map(float, ev.stats))


def voc_ap(rec, prec, use_07_metric):
    """ssd.pytorch's voc_ap (written again here)."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_eval(gt, dets, use_07_metric, plus_one=False, ovthresh=0.5):
    """ssd.pytorch's voc_eval per class on COCO-format files: {class name: AP}, mAP."""
    one = 1.0 if plus_one else 0.0
    aps = {}
    for cat in sorted(gt["categories"], key=lambda c: c["id"]):
        cid = cat["id"]
        recs = {}
        npos = 0
        for a in gt["annotations"]:
            if a["category_id"] != cid:
                continue
            x, y, w, h = a["bbox"]
            r = recs.setdefault(a["image_id"], {"bbox": [], "difficult": [], "det": []})
            r["bbox"].append([x, y, x + w, y + h])
            r["difficult"].append(bool(a.get("difficult", 0)))
            r["det"].append(False)
            npos += not a.get("difficult", 0)
        if npos == 0:
            aps[cat["name"]] = -1.0
            continue
        mine = [d for d in dets if d["category_id"] == cid]
        if not mine:
            aps[cat["name"]] = 0.0
            continue
        confidence = np.array([d["score"] for d in mine])
        order = np.argsort(-confidence, kind="mergesort")
        nd = len(order)
        tp, fp = np.zeros(nd), np.zeros(nd)
        for di, k in enumerate(order):
            d = mine[k]
            x, y, w, h = d["bbox"]
            bb = np.array([x, y, x + w, y + h])
            R = recs.get(d["image_id"], {"bbox": [], "difficult": [], "det": []})
            ovmax = -np.inf
            BBGT = np.array(R["bbox"], dtype=float).reshape(-1, 4)
            if BBGT.size > 0:
                ixmin = np.maximum(BBGT[:, 0], bb[0])
                iymin = np.maximum(BBGT[:, 1], bb[1])
                ixmax = np.minimum(BBGT[:, 2], bb[2])
                iymax = np.minimum(BBGT[:, 3], bb[3])
                iw = np.maximum(ixmax - ixmin + one, 0.0)
                ih = np.maximum(iymax - iymin + one, 0.0)
                inters = iw * ih
                uni = ((bb[2] - bb[0] + one) * (bb[3] - bb[1] + one)
                       + (BBGT[:, 2] - BBGT[:, 0] + one) * (BBGT[:, 3] - BBGT[:, 1] + one) - inters)
                with np.errstate(invalid="ignore", divide="ignore"):
                    overlaps = inters / uni
                ovmax = np.max(overlaps)
                jmax = int(np.argmax(overlaps))
            if ovmax > ovthresh:
                if not R["difficult"][jmax]:
                    if not R["det"][jmax]:
                        tp[di] = 1.0
                        R["det"][jmax] = True
                    else:
                        fp[di] = 1.0
            else:
                fp[di] = 1.0
        fp, tp = np.cumsum(fp), np.cumsum(tp)
        rec = tp / float(npos)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[cat["name"]] = voc_ap(rec, prec, use_07_metric)
    valid = [v for v in aps.values() if v != -1.0]
    return aps, (float(np.mean(valid)) if valid else None)


def case(name, gt, dets, note=None):
    c = {"name": name, "gt": gt, "dt": dets, "coco_stats": coco_stats(gt, dets)}
    for key, use07, plus in (("voc07", True, False), ("voc2010", False, False), ("voc2010_plus_one", False, True)):
        aps, m = voc_eval(gt, dets, use07, plus)
        c[key] = {"map": m, "ap": aps}
    if note:
        c["note"] = note
    return c


def fixture():
    cases = []
    gt, dt = generate(1, 40, 6, 4, 12)
    cases.append(case("small_float_boxes", gt, dt))
    gt, dt = generate(2, 60, 5, 4, 15, crowd_frac=0.1, integer_boxes=True, score_decimals=1, difficult_frac=0.15)
    cases.append(case("integer_boxes_crowds_ties_difficult", gt, dt))
    gt, dt = generate(3, 30, 4, 6, 130, crowd_frac=0.05)  # more than 100 detections per image
    cases.append(case("over_100_detections", gt, dt))
    gt, dt = generate(4, 25, 3, 3, 8, crowd_frac=0.5, empty_frac=0.3)
    cases.append(case("half_crowds_empty_images", gt, dt))
    # all ground truths small: medium and large give -1
    gt, dt = generate(5, 15, 3, 3, 6)
    for a in gt["annotations"]:
        a["area"] = min(a["area"], 500.0)
    cases.append(case("only_small_ground_truth", gt, dt))
    # a ground truth with id 0: pycocotools never counts it matched; LossKit does. The
    # expected values are pycocotools' on the same file with every id shifted by 1.
    gt, dt = generate(6, 20, 3, 3, 8, first_gt_id=0)
    shifted = json.loads(json.dumps(gt))
    for a in shifted["annotations"]:
        a["id"] += 1
    c = case("ground_truth_id_0", gt, dt, note="expected: pycocotools on the same file with ids + 1 "
             "(pycocotools itself never matches the id-0 ground truth)")
    c["coco_stats"] = coco_stats(shifted, dt)
    c["coco_stats_pycocotools_as_is"] = coco_stats(gt, dt)
    cases.append(c)
    return {"op": "detection_ap", "reference": "pycocotools %s COCOeval bbox; ssd.pytorch voc_eval semantics in numpy "
            "(Benchmarks/peers/make_coco_fixture.py)" % pycocotools_version(), "cases": cases}


def pycocotools_version():
    try:
        from importlib.metadata import version
        return version("pycocotools")
    except Exception:
        return "?"


BENCH_ROW = "coco_eval_5000img"  # the row --bench times


def bench_data():
    # COCO val sizes: 5,000 images, 80 classes, ~7 ground truths and 100 detections per image, ~1% crowd
    return generate(2017, 5000, 80, 7, 100, crowd_frac=0.01, empty_frac=0.01, score_decimals=4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    # make bench-peers passes its ARGS to every peer script: --bench times only when the filter names its row
    ap.add_argument("--filter")
    ap.add_argument("--json", action="store_true", help="ignored: --bench prints JSON lines")
    ap.add_argument("--quick", action="store_true", help="ignored: the COCO row has one size")
    ap.add_argument("--threads", help="ignored: the COCO row runs at 1 thread")
    ap.add_argument("--no-compile", action="store_true", help="ignored")
    ap.add_argument("--write-bench-files", metavar="DIR")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "LossKitTests",
                                                  "Fixtures", "detection_ap.json"))
    args = ap.parse_args()
    if args.write_bench_files:
        gt, dt = bench_data()
        os.makedirs(args.write_bench_files, exist_ok=True)
        with open(os.path.join(args.write_bench_files, "gt.json"), "w") as f:
            json.dump(gt, f)
        with open(os.path.join(args.write_bench_files, "dt.json"), "w") as f:
            json.dump(dt, f)
        print("%d ground truths, %d detections" % (len(gt["annotations"]), len(dt)), file=sys.stderr)
        return
    if args.bench:
        if args.filter and args.filter != BENCH_ROW:
            return
        import resource
        gt, dt = bench_data()
        stats, seconds = coco_stats(gt, dt, timing=True)
        print(json.dumps({"workload": BENCH_ROW, "path": "pycocotools " + pycocotools_version(), "threads": 1,
                          "ms": seconds * 1e3, "AP": stats[0],
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        t0 = time.perf_counter()
        _, m = voc_eval(gt, dt, use_07_metric=True)
        print(json.dumps({"workload": "voc_eval_5000img", "path": "ssd.pytorch voc_eval (numpy)", "threads": 1,
                          "ms": (time.perf_counter() - t0) * 1e3, "mAP": m}))
        return
    with open(args.out, "w") as f:
        json.dump(fixture(), f, separators=(",", ":"))
    print("wrote", os.path.abspath(args.out))


if __name__ == "__main__":
    main()
