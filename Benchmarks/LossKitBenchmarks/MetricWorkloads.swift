/// Metric-learning workloads (cdist_4096x4096x512, trihard_*).
let metricWorkloads: [Workload] = []
