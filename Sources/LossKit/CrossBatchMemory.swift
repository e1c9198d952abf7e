/// Cross-batch memory (XBM; Wang, Zhang, Huang and Scott, "Cross-Batch
/// Memory for Embedding Learning", CVPR 2020): a ring buffer of the last
/// `capacity` embeddings and labels, so that each batch mines its positives
/// and negatives among far more samples than it holds.
///
/// Each ``step(features:labels:loss:)``:
///
///     references = memory (oldest first) ++ batch      (batch rows marked as the queries)
///     result     = loss(references)                    (your loss closure)
///     gradient   = result.queryGradient + the batch rows of result.referenceGradient
///     memory    <- memory ++ batch, keeping the last `capacity` rows
///
/// so the memory holds the *previous* batches when the loss runs, the current
/// batch is present once (as the queries and as marked references: no query
/// is its own positive), and the returned gradient is with respect to the
/// current batch only - the memory rows are constants, as in XBM, where they
/// are stored detached.
///
/// ```swift
/// let xbm = try CrossBatchMemory(capacity: 8192, dimension: 128, startStep: 1000)
/// for (features, labels) in batches {
///     let step = try xbm.step(features: features, labels: labels) { references in
///         try triHardLoss(queries: features, labels: labels, references: references, dimension: 128)
///     }
///     backpropagate(step.gradient!)   // d loss / d features, [b, 128]
/// }
/// ```
///
/// **Warm-up.** Steps before `startStep` (counted from 0) use the batch
/// alone, ``ReferenceSet/batch(_:labels:)``, and enqueue nothing: XBM's
/// `START_ITERATION`, which waits until the embedding drifts slowly enough
/// for stored features to stay meaningful. Such a step is the plain batch loss
/// with its whole gradient, whatever `detachBatchReferences` says.
///
/// **Enqueue after the loss.** The batch joins the memory after its loss is
/// computed, and a step whose closure throws leaves the memory and
/// ``stepIndex`` unchanged. pytorch-metric-learning's `CrossBatchMemory`
/// enqueues first: it writes the batch into its `memory_size` slots,
/// overwriting the oldest rows, then mines against that memory and drops the
/// self pairs. Its references are therefore the last `memory_size` rows
/// *including* the batch; here they are the last `capacity` rows *before*
/// the batch plus the batch, `capacity + b` in all (pml's `memory_size` m
/// corresponds to a capacity of m - b). The batch also counts as a
/// reference with its gradient here, as in the batch loss; pml's stored copy
/// is detached, which `detachBatchReferences: true` reproduces. XBM's own
/// training loop adds a separate batch loss to a weighted memory loss; pass a
/// closure that does that if you need its `WEIGHT`.
///
/// **Large batches.** A batch larger than `capacity` is used whole as the
/// step's references, but only its last `capacity` rows are enqueued (pml
/// refuses such a batch).
///
/// The memory is a class with mutable state: use one per training loop, not
/// from several threads at once.
public final class CrossBatchMemory {
    /// The most rows the memory keeps.
    public let capacity: Int
    /// The feature dimension of every row.
    public let dimension: Int
    /// The first step (counted from 0) whose references include the memory.
    public let startStep: Int
    /// Whether the batch rows among the references contribute no gradient.
    public let detachBatchReferences: Bool
    /// The steps taken since creation or ``reset()`` (warm-up steps included).
    public private(set) var stepIndex = 0
    /// The rows held, `0 ... capacity`.
    public private(set) var count = 0

    private var storedFeatures: [Float]
    private var storedLabels: [Int]
    private var oldest = 0 // slot of the oldest row

    /// - Parameters:
    ///   - capacity: the most rows kept (>= 1); XBM's `SIZE`.
    ///   - dimension: the feature dimension (>= 1).
    ///   - startStep: the first step that uses the memory (>= 0; default 0,
    ///     from the start); XBM's `START_ITERATION`.
    ///   - detachBatchReferences: default false, the batch rows among the
    ///     references get their gradient (so a step with an empty memory
    ///     equals the batch loss); true treats them as constants, as the
    ///     detached copy in XBM's and pytorch-metric-learning's memories.
    /// - Throws: ``LossKitError`` for a capacity below 1, a dimension below 1,
    ///   a negative `startStep`, or a `capacity x dimension` buffer that
    ///   overflows.
    public init(capacity: Int, dimension: Int, startStep: Int = 0, detachBatchReferences: Bool = false) throws {
        try checkDimension(dimension)
        guard capacity >= 1 else {
            throw LossKitError.invalidParameter(argument: "capacity", value: "\(capacity)", reason: "must be >= 1")
        }
        guard startStep >= 0 else {
            throw LossKitError.invalidParameter(argument: "startStep", value: "\(startStep)", reason: "must be >= 0")
        }
        let values = try Check.elementCount("memory", capacity, dimension)
        self.capacity = capacity
        self.dimension = dimension
        self.startStep = startStep
        self.detachBatchReferences = detachBatchReferences
        storedFeatures = [Float](repeating: 0, count: values)
        storedLabels = [Int](repeating: 0, count: capacity)
    }

    /// The rows held, oldest first, with no self marks.
    public var memory: ReferenceSet {
        var f: [Float] = [], l: [Int] = []
        f.reserveCapacity(count * dimension)
        l.reserveCapacity(count)
        for r in 0..<count {
            let slot = (oldest + r) % capacity
            f += storedFeatures[slot * dimension ..< (slot + 1) * dimension]
            l.append(storedLabels[slot])
        }
        return ReferenceSet(features: f, labels: l)
    }

    /// Empties the memory and restarts the step count (the warm-up runs again).
    public func reset() {
        count = 0
        oldest = 0
        stepIndex = 0
    }

    /// One training step: the loss of `features` against the memory and
    /// themselves, then the batch joins the memory (see the type's overview).
    /// - Parameters:
    ///   - features: the batch, `[b, dimension]`.
    ///   - labels: b identity labels.
    ///   - loss: the loss of the batch (as queries) against the references it
    ///     is given, e.g. `{ try triHardLoss(queries: features, labels:
    ///     labels, references: $0, dimension: d) }`. It must use these
    ///     features as its queries, so that its query gradient is `[b, d]`.
    /// - Returns: the loss and the gradient with respect to `features`.
    /// - Throws: ``LossKitError`` for features that are not `[b, dimension]`,
    ///   a label count that is not b, or a closure whose gradients do not have
    ///   the batch's and the references' shapes; whatever the closure throws.
    ///   A step that throws changes nothing.
    public func step(features: [Float], labels: [Int],
                     loss: (ReferenceSet) throws -> ReferenceLossResult) throws -> CrossBatchStep {
        let b = try checkTuples([("features", features)], dimension: dimension)
        try Check.sameCount("labels", labels.count, as: "rows of features", b)
        let warmUp = stepIndex < startStep
        let references: ReferenceSet
        if warmUp {
            references = .batch(features, labels: labels)
        } else {
            let held = memory
            references = ReferenceSet(features: held.features + features, labels: held.labels + labels,
                                      queriesAt: held.labels.count, queryCount: b)
        }
        let offset = warmUp ? 0 : count
        let result = try loss(references)
        var gradient = result.queryGradient
        if let g = gradient {
            try Check.sameCount("loss result's queryGradient", g.count, as: "features", features.count)
        }
        if let rg = result.referenceGradient, gradient != nil, warmUp || !detachBatchReferences {
            try Check.sameCount("loss result's referenceGradient", rg.count, as: "the references' features",
                                references.features.count)
            let start = offset * dimension
            for k in features.indices { gradient![k] += rg[start + k] }
        }
        if !warmUp { enqueue(features, labels, rows: b) }
        stepIndex += 1
        return CrossBatchStep(value: result.value, gradient: gradient, memoryCount: offset, result: result)
    }

    private func enqueue(_ batch: [Float], _ batchLabels: [Int], rows b: Int) {
        for i in max(0, b - capacity)..<b {
            let slot: Int
            if count < capacity {
                slot = (oldest + count) % capacity
                count += 1
            } else {
                slot = oldest
                oldest = (oldest + 1) % capacity
            }
            storedFeatures.replaceSubrange(slot * dimension ..< (slot + 1) * dimension,
                                           with: batch[i * dimension ..< (i + 1) * dimension])
            storedLabels[slot] = batchLabels[i]
        }
    }
}

/// What one ``CrossBatchMemory/step(features:labels:loss:)`` returns.
public struct CrossBatchStep: Sendable, Equatable {
    /// The loss closure's value.
    public var value: Float
    /// d value / d the batch features, `[b, dimension]`: the query gradient
    /// plus the batch rows' reference gradient (unless detached); nil when
    /// the closure computed no gradient.
    public var gradient: [Float]?
    /// How many memory rows preceded the batch among the references (0 in a
    /// warm-up step); the batch rows are `memoryCount ..< memoryCount + b`.
    public var memoryCount: Int
    /// The closure's whole result (its reference gradient covers the memory rows too).
    public var result: ReferenceLossResult
}
