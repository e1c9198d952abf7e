import Dispatch

/// The plain-Swift twins of every op: the reference the C kernels are tested against.
///
/// They follow the same reduction rule as the C path (Double partial sums
/// over fixed chunks, added in chunk order), so they too give bitwise
/// identical results at any thread count.
enum Portable {
    /// Elements per chunk (as the C kernels use).
    static let chunk = 16384
    /// Below this many elements, work stays on the calling thread.
    static let parallelMinimum = 65536

    /// Sums `body(range)` over fixed chunks of `0..<count`, on up to `threads` threads.
    static func chunkedSum(count: Int, chunk: Int = Portable.chunk, threads: Int,
                           _ body: (Range<Int>) -> Double) -> Double {
        let chunks = count == 0 ? 0 : (count - 1) / chunk + 1
        let partials = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(chunks, 1))
        defer { partials.deallocate() }
        let workers = count < parallelMinimum ? 1 : min(threads, chunks)
        if workers <= 1 {
            for c in 0..<chunks { partials[c] = body(c * chunk ..< min(count, (c + 1) * chunk)) }
        } else {
            withoutActuallyEscaping(body) { body in
                // Each chunk writes only its own slot of `partials`, so sharing is safe.
                let shared = UncheckedSendable((body, partials))
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    let (body, partials) = shared.value
                    for c in stride(from: worker, to: chunks, by: workers) {
                        partials[c] = body(c * chunk ..< min(count, (c + 1) * chunk))
                    }
                }
            }
        }
        var total = 0.0
        for c in 0..<chunks { total += partials[c] }
        return total
    }
}

/// Carries values into `concurrentPerform` where the caller guarantees the
/// workers touch disjoint memory.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
