/* losskit_detection_eval.h - detection AP as the papers report it: COCO bbox
 * evaluation (pycocotools' COCOeval, iouType "bbox") and PASCAL VOC AP
 * (ssd.pytorch's voc_eval). Part of the LossKit C ABI (losskit.h includes
 * it); the conventions at the top of losskit.h hold, with one exception:
 * boxes, areas and scores are double, as the JSON files hold them and as
 * both peers compute (a float32 IoU would flip matches whose IoU sits on a
 * threshold, and move the 12 numbers by more than 1e-6). */
#ifndef LOSSKIT_DETECTION_EVAL_H
#define LOSSKIT_DETECTION_EVAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A set of boxes of many images and categories (ground truths or
 * detections), in the order of the file they came from: that order breaks
 * score ties, as in both peers.
 *  boxes       [n, 4] COCO x, y, w, h (w, h >= 0, finite)
 *  scores      [n] detections: confidence (finite); ground truths: NULL
 *  areas       [n] COCO ground truths: the `area` field (>= 0); NULL
 *              elsewhere (a detection's area is w h, as pycocotools' loadRes)
 *  flags       [n] ground truths: iscrowd (COCO) or difficult (VOC), 0 / 1;
 *              NULL: all 0
 *  images      [n] image index in [0, num_images): the rank of the image id
 *              among the ground truth file's sorted image ids
 *  categories  [n] category index in [0, num_categories): the rank of the
 *              category id among the sorted category ids */
typedef struct losskit_eval_boxes {
    const double *boxes;
    const double *scores;
    const double *areas;
    const uint8_t *flags;
    const int64_t *images;
    const int64_t *categories;
    size_t n;
} losskit_eval_boxes;

/* The 12 numbers of COCOeval.summarize(), in its order. */
#define LOSSKIT_COCO_STATS 12
/* Axis lengths of pycocotools' eval['precision'] [T, R, K, A, M] and
 * eval['recall'] [T, K, A, M]: IoU thresholds .50:.05:.95, recall points
 * 0:.01:1, area ranges all / small / medium / large, maxDets 1 / 10 / 100. */
#define LOSSKIT_COCO_IOU_THRESHOLDS 10
#define LOSSKIT_COCO_RECALL_POINTS 101
#define LOSSKIT_COCO_AREAS 4
#define LOSSKIT_COCO_MAX_DETS 3

/* COCO bbox evaluation with pycocotools' semantics (evaluate, accumulate,
 * summarize): per image and category, detections by descending score
 * (stable: file order on ties), the first 100 kept; the IoU in double as
 * maskApi's bbIou (a crowd ground truth: intersection over the detection's
 * area); greedy matching per IoU threshold, a detection taking the
 * ground truth of highest IoU >= the threshold (the later one on ties),
 * regular ground truths before ignored ones; a ground truth is ignored when
 * crowd or its area lies outside the range (ranges closed at both ends:
 * [0, 1e10], [0, 32^2], [32^2, 96^2], [96^2, 1e10]); an unmatched
 * detection whose w h lies outside it is ignored; precision at 101 recall
 * points from the monotone envelope, over all images of a category sorted
 * by score (stable: image order, then rank in the image). Entries with no
 * regular ground truth stay -1, and the 12 numbers are means over the
 * entries > -1 (-1 when there are none).
 * Deliberate difference: pycocotools records matches by annotation id, so
 * a ground truth with id 0 never counts as matched; here matches are by
 * position and every ground truth counts.
 * stats receives 12 values; precision ([T, R, K, A, M] doubles) and recall
 * ([T, K, A, M]) may be NULL. Categories run in parallel; results are
 * identical at any thread count. */
int losskit_coco_evaluate(const losskit_eval_boxes *gt, const losskit_eval_boxes *dt,
                          size_t num_images, size_t num_categories,
                          double *stats, double *precision, double *recall, int threads);

/* PASCAL VOC AP per category as ssd.pytorch's voc_eval: detections of a
 * category over all images by descending score (stable: file order on
 * ties); each takes the ground truth of its image and category with the
 * highest IoU (the first on ties); IoU > iou_threshold (0.5) on a
 * difficult ground truth: ignored; on a free one: true positive, on a
 * taken one or below the threshold: false positive. Corners are (x, y,
 * x + w, y + h); plus_one != 0 adds 1 to every width and height in the IoU
 * (the VOC devkit's inclusive pixels; ssd.pytorch's voc_eval does not).
 * use_07_metric != 0: the 11-point VOC2007 AP (max precision at recall >=
 * 0, 0.1, ... 1, t computed as i * 0.1); else the VOC2010+ area under the
 * monotone precision envelope. ap receives num_categories values: -1 for a
 * category without non-difficult ground truth (ssd.pytorch divides by
 * zero there), 0 for one with ground truth and no detection (ssd.pytorch
 * reports -1 and averages it into the mAP: a bug not copied). *map_value
 * (may be NULL) is the mean over the categories whose AP is not -1 (NaN if
 * none). */
int losskit_voc_evaluate(const losskit_eval_boxes *gt, const losskit_eval_boxes *dt,
                         size_t num_images, size_t num_categories, double iou_threshold,
                         int use_07_metric, int plus_one, double *ap, double *map_value, int threads);

#ifdef __cplusplus
}
#endif

#endif
