/// Detection workloads (box_iou_100k_x100, multibox_ssd300_b32).
let detectionWorkloads: [Workload] = []
