/* losskit_metric.h - distance matrices and metric-learning losses.
 * Part of the LossKit C ABI; include losskit.h, which includes this. */
#ifndef LOSSKIT_METRIC_H
#define LOSSKIT_METRIC_H
#endif
