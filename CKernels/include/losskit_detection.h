/* losskit_detection.h - box kernels (IoU family, SSD encode/decode/match, MultiBox, NMS).
 * Part of the LossKit C ABI; include losskit.h, which includes this. */
#ifndef LOSSKIT_DETECTION_H
#define LOSSKIT_DETECTION_H
#endif
