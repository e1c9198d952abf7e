/* losskit_detection.h - box kernels: IoU-family matrices, aligned IoU-family
 * losses, box format conversions. Part of the LossKit C ABI (include
 * losskit.h, which includes this); the conventions at the top of losskit.h
 * hold. Boxes are corner form (x1, y1, x2, y2), no +1 pixel convention,
 * 4 consecutive floats per box. */
#ifndef LOSSKIT_DETECTION_H
#define LOSSKIT_DETECTION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum losskit_iou_kind {
    LOSSKIT_IOU = 0,  /* inter / union (torchvision box_iou) */
    LOSSKIT_GIOU = 1, /* iou - (C - union) / C, C the enclosing box's area */
    LOSSKIT_DIOU = 2, /* iou - rho^2 / (c^2 + eps): centre distance over enclosing diagonal */
    LOSSKIT_CIOU = 3  /* diou - alpha v, v = (4/pi^2)(atan(w2/h2) - atan(w1/h1))^2, alpha = v / (1 - iou + v + eps) */
} losskit_iou_kind;

/* out[i * m + j] = kind(boxes1[i], boxes2[j]) for n x m pairs, as
 * torchvision's box_iou / generalized_box_iou / distance_box_iou /
 * complete_box_iou (eps 1e-7 in DIoU and CIoU). Where torchvision divides
 * 0 by 0 - a pair whose union is 0, and for CIoU also a box with w = h = 0,
 * whose aspect ratio is undefined - the result is 0. */
int losskit_box_iou_matrix(losskit_iou_kind kind, const float *boxes1, size_t n,
                           const float *boxes2, size_t m, float *out, int threads);

/* Aligned losses on n pairs, as torchvision's generalized_box_iou_loss /
 * distance_box_iou_loss / complete_box_iou_loss (kind GIOU, DIOU or CIOU):
 *   GIoU: 1 - iou + (C - U) / (C + eps)          iou = I / (U + eps)
 *   DIoU: 1 - iou + rho^2 / (c^2 + eps)
 *   CIoU: DIoU loss + alpha v, alpha treated as a constant (torch.no_grad)
 * grad: n x 4, gradient wrt pred. At ties of max/min the gradient is split
 * in half, as torch.maximum / torch.minimum. CIoU's v is 0 when either box
 * has w = h = 0. eps >= 0 (torchvision: 1e-7). */
int losskit_box_iou_loss(losskit_iou_kind kind, const float *pred, const float *target, size_t n,
                         float eps, losskit_reduction reduction, float *loss, float *grad, int threads);

/* (x1, y1, x2, y2) <-> (cx, cy, w, h), n boxes; in and out may alias. */
int losskit_boxes_xyxy_to_cxcywh(const float *in, float *out, size_t n);
int losskit_boxes_cxcywh_to_xyxy(const float *in, float *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
