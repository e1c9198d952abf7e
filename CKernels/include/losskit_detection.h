/* losskit_detection.h - box kernels: IoU-family matrices, aligned IoU-family
 * losses, box format conversions. Part of the LossKit C ABI (include
 * losskit.h, which includes this); the conventions at the top of losskit.h
 * hold. Boxes are 4 consecutive floats, no +1 pixel convention; corner form
 * (x1, y1, x2, y2) unless a losskit_box_format says otherwise.
 *
 * The box rule, every entry point: a box must have x2 >= x1 and y2 >= y1
 * (w >= 0 and h >= 0 in the xywh and cxcywh formats), as torchvision's box
 * ops document ("0 <= x1 < x2"; zero extents are allowed here). A box that
 * breaks it is rejected with that argument's status (-k). A NaN coordinate
 * passes the rule (its comparisons are false) and gives NaN where it is
 * used, except in ssd_match and multibox_loss, whose truths must be
 * finite (they make discrete choices from them). */
#ifndef LOSSKIT_DETECTION_H
#define LOSSKIT_DETECTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Box layouts, as torchvision.ops.box_convert names them. The kernels
 * convert a box to corners as they load it, in float: xywh: x2 = x + w;
 * cxcywh: x1 = cx - 0.5 w, x2 = cx + 0.5 w (y alike), box_convert's
 * formulas. */
typedef enum losskit_box_format {
    LOSSKIT_BOX_XYXY = 0,  /* (x1, y1, x2, y2) */
    LOSSKIT_BOX_XYWH = 1,  /* (x1, y1, w, h) */
    LOSSKIT_BOX_CXCYWH = 2 /* (cx, cy, w, h) */
} losskit_box_format;

typedef enum losskit_iou_kind {
    LOSSKIT_IOU = 0,  /* inter / union (torchvision box_iou) */
    LOSSKIT_GIOU = 1, /* iou - (C - union) / C, C the enclosing box's area */
    LOSSKIT_DIOU = 2, /* iou - rho^2 / (c^2 + eps): centre distance over enclosing diagonal */
    LOSSKIT_CIOU = 3  /* diou - alpha v, v = (4/pi^2)(atan(w2/h2) - atan(w1/h1))^2, alpha = v / (1 - iou + v + eps) */
} losskit_iou_kind;

/* out[i * m + j] = kind(boxes1[i], boxes2[j]) for n x m pairs, both sets
 * in `format`, as torchvision's box_iou / generalized_box_iou /
 * distance_box_iou / complete_box_iou (eps 1e-7 in DIoU and CIoU) on
 * box_convert'ed boxes. Where torchvision divides 0 by 0, the one rule of
 * the matrices and the aligned losses: that term is 0, the others stay -
 * the IoU of a pair whose union is 0, GIoU's (C - U) / C where C = 0, and
 * CIoU's aspect term alpha v when either box has w = h = 0 (its aspect
 * ratio atan(0/0) is undefined). So 1 - matrix = loss up to the losses' eps.
 * Status: -1 kind, -2 format, -3 boxes1 (NULL, or a box breaking the box
 * rule), -4 n, -5 boxes2, -6 m, -7 out, -8 threads. */
int losskit_box_iou_matrix(losskit_iou_kind kind, losskit_box_format format, const float *boxes1, size_t n,
                           const float *boxes2, size_t m, float *out, int threads);

/* Aligned losses on n pairs, both in `format`, as torchvision's
 * generalized_box_iou_loss / distance_box_iou_loss / complete_box_iou_loss
 * (kind GIOU, DIOU or CIOU) on box_convert'ed boxes:
 *   GIoU: 1 - iou + (C - U) / (C + eps)          iou = I / (U + eps)
 *   DIoU: 1 - iou + rho^2 / (c^2 + eps)
 *   CIoU: DIoU loss + alpha v, alpha treated as a constant (torch.no_grad)
 * grad: n x 4, gradient wrt pred in `format` (chained through the
 * conversion). At ties of max/min the gradient is split in half, as
 * torch.maximum / torch.minimum. A 0 / 0 term is 0 (eps = 0 only; CIoU's v
 * when either box has w = h = 0), as in the matrices. eps >= 0
 * (torchvision: 1e-7). n = 0 with mean: 0, as torchvision. Status: -1 kind,
 * -2 format, -3 pred, -4 target, -5 n, -6 eps, -7 reduction, -10 threads. */
int losskit_box_iou_loss(losskit_iou_kind kind, losskit_box_format format, const float *pred, const float *target,
                         size_t n, float eps, losskit_reduction reduction, float *loss, float *grad, int threads);

/* (x1, y1, x2, y2) <-> (cx, cy, w, h), n boxes; in and out may alias. A
 * box breaking the box rule: -1. */
int losskit_boxes_xyxy_to_cxcywh(const float *in, float *out, size_t n);
int losskit_boxes_cxcywh_to_xyxy(const float *in, float *out, size_t n);

/* ---- SSD ----------------------------------------------------------------- */
/* Priors are centre form (cx, cy, w, h); variances (v0, v1), SSD: (0.1, 0.2). */

/* ssd.pytorch encode: matched boxes (corner form) relative to their priors
 * (both checked by the box rule: -1, -2):
 *   ((cx - pcx) / (v0 pw), (cy - pcy) / (v0 ph), log(w / pw) / v1, log(h / ph) / v1) */
int losskit_ssd_encode(const float *matched_xyxy, const float *priors_cxcywh, size_t n,
                       float v0, float v1, float *loc);

/* ssd.pytorch decode: the inverse, to corner form (priors: the box rule, -2). */
int losskit_ssd_decode(const float *loc, const float *priors_cxcywh, size_t n,
                       float v0, float v1, float *boxes_xyxy);

/* ssd.pytorch match for one image: every ground truth first claims its best
 * prior (highest IoU, first index on ties; when two truths claim one prior
 * the later keeps it); every other prior takes its best truth (first on
 * ties) if IoU >= threshold; the rest are background. Writes, per prior,
 * matched_index (-1 = background) and conf_target (0 = background, else
 * label + 1). Truths must be well-formed (x1 <= x2, y1 <= y2, finite: -1);
 * priors follow the box rule (-4). The IoU is float32 torchvision's, in its
 * operation order, so near-ties pick the prior ssd.pytorch picks. */
int losskit_ssd_match(const float *truths_xyxy, const int64_t *labels, size_t num_truths,
                      const float *priors_cxcywh, size_t num_priors, float threshold,
                      int64_t *matched_index, int64_t *conf_target);

/* ssd.pytorch MultiBoxLoss over a batch: loc [B, P, 4], conf [B, P, C]
 * predictions; image b's truths are truths_xyxy[4 * first_b ...] with
 * truth_counts[b] of them (first_b = sum of the counts before it), labels
 * 0-based in [0, C - 1). Smooth L1 (beta 1) on the encoded offsets of
 * positive priors; softmax CE on positives and the hardest negatives,
 * num_neg = min(ceil(neg_pos_ratio * num_pos), P - 1) per image (the
 * product in float, as ssd.pytorch's `idx_rank < negpos_ratio * num_pos`
 * keeps every rank below it: ratio 2.5, 31 positives: 78), ranked by
 * background CE (positives count 0; ties by prior index); both divided by
 * N, the batch's positive count (N = 0: losses 0, gradients 0). Outputs:
 * loss_loc, loss_conf (one float each), grad_loc [B, P, 4], grad_conf
 * [B, P, C] (NULL skips), conf_target [B, P] (NULL skips). Priors follow
 * the box rule (-6); truths as in ssd_match (-7). */
int losskit_multibox_loss(const float *loc, const float *conf, size_t batch, size_t num_priors, size_t classes,
                          const float *priors_cxcywh, const float *truths_xyxy, const int64_t *labels,
                          const size_t *truth_counts, float threshold, float neg_pos_ratio, float v0, float v1,
                          float *loss_loc, float *loss_conf, float *grad_loc, float *grad_conf,
                          int64_t *conf_target, int threads);

/* Greedy non-maximum suppression, as torchvision.ops.nms: boxes by
 * descending score (ties: lower index first), each dropping the later ones
 * whose IoU with it is > iou_threshold. keep receives the kept indices in
 * that order (room for n), *kept their count. NaN scores sort last.
 * Boxes: the box rule (-1). */
int losskit_nms(const float *boxes_xyxy, const float *scores, size_t n, float iou_threshold,
                int64_t *keep, size_t *kept);

#ifdef __cplusplus
}
#endif

#endif
