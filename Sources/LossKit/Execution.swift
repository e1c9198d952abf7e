import CLossKit

/// How per-element (or per-row) losses are combined, as PyTorch's `reduction`.
public enum Reduction: Sendable, Hashable, CaseIterable {
    /// Keep every element's loss; the gradient is that of their sum.
    case none
    /// The sum of the element losses.
    case sum
    /// The sum divided by the element count (weighted ops: by the sum of weights).
    case mean

    var c: losskit_reduction {
        switch self {
        case .none: return LOSSKIT_REDUCTION_NONE
        case .sum: return LOSSKIT_REDUCTION_SUM
        case .mean: return LOSSKIT_REDUCTION_MEAN
        }
    }
}

/// Which implementation computes an op.
public enum Backend: Sendable, Hashable, CaseIterable {
    /// The C kernels (SIMD, OpenBLAS): the default.
    case c
    /// The plain-Swift twins in `Portable/`: the reference the C path is tested against.
    case portable
}

/// Where and on how many threads an op runs.
///
/// Results are bitwise identical at any thread count: sums are accumulated in
/// `Double` over fixed chunks whose partial sums are added in chunk order.
public struct Execution: Sendable, Hashable {
    /// The implementation to use.
    public var backend: Backend
    /// An upper bound on worker threads; `nil` uses every core. Small inputs
    /// always run on the calling thread.
    public var threads: Int?

    /// - Parameters:
    ///   - backend: `.c` (default) or `.portable`.
    ///   - threads: at most this many threads (>= 1), or nil for every core.
    public init(backend: Backend = .c, threads: Int? = nil) {
        self.backend = backend
        self.threads = threads
    }

    /// The C kernels on all cores.
    public static let `default` = Execution()
    /// The portable Swift implementation on all cores.
    public static let portable = Execution(backend: .portable)

    func validatedThreads() throws -> Int32 {
        guard let threads else { return 0 }
        guard threads >= 1, threads <= 4096 else {
            throw LossKitError.invalidParameter(argument: "threads", value: "\(threads)", reason: "must be between 1 and 4096 (nil uses every core)")
        }
        return Int32(threads)
    }

    /// The thread count the portable path uses.
    var resolvedThreads: Int {
        let cores = Int(losskit_cpu_count())
        guard let threads else { return cores }
        return max(1, min(threads, cores))
    }
}

/// A loss value with, on request, its per-element terms and its gradient.
public struct LossResult: Sendable, Equatable {
    /// The reduced loss; for ``Reduction/none``, the sum of ``unreduced``.
    public var value: Float
    /// The per-element (or per-row) losses, for ``Reduction/none`` only.
    public var unreduced: [Float]?
    /// The gradient of the reduced loss (for ``Reduction/none``: of the sum)
    /// with respect to the predictions or logits; `nil` if not requested.
    public var gradient: [Float]?

    /// Wraps a value with its optional per-element terms and gradient.
    public init(value: Float, unreduced: [Float]? = nil, gradient: [Float]? = nil) {
        self.value = value
        self.unreduced = unreduced
        self.gradient = gradient
    }
}
