import CMPI
import LossKit

/// An MPI call that failed, or a collective that another rank could not finish.
public enum MPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `function` returned `code`; `message` is MPI_Error_string's text.
    case call(function: String, code: Int32, message: String)
    /// A size does not fit MPI's `int` counts (2^31 - 1 elements per rank and in total).
    case countOverflow(argument: String, count: Int)
    /// These ranks failed (a bad argument or a kernel error, thrown there)
    /// during the collective operation `operation`; every other rank throws this.
    case remoteFailure(ranks: [Int], operation: String)

    public var description: String {
        switch self {
        case let .call(function, code, message): "\(function) failed with MPI error \(code): \(message)"
        case let .countOverflow(argument, count): "\(argument): \(count) elements exceed MPI's int counts"
        case let .remoteFailure(ranks, operation): "\(operation): rank(s) \(ranks) failed"
        }
    }
}

/// An element type MPI can move: its MPI datatype.
public protocol MPIScalar: Sendable {
    static var mpiDatatype: MPI_Datatype { get }
}
extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype { lk_mpi_float() } }
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype { lk_mpi_double() } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype { lk_mpi_int32() } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype { lk_mpi_int64() } }

func check(_ code: Int32, _ function: String) throws {
    guard code != lk_mpi_success() else { return }
    var text = [CChar](repeating: 0, count: Int(lk_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    _ = MPI_Error_string(code, &text, &length)
    let message = String(decoding: text.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw MPIError.call(function: function, code: code, message: message)
}

func mpiCount(_ argument: String, _ n: Int) throws -> Int32 {
    guard n >= 0, n <= Int(Int32.max) else { throw MPIError.countOverflow(argument: argument, count: n) }
    return Int32(n)
}

/// A group of MPI processes (ranks) that take part in collective operations
/// together: ``world`` is every process `mpirun` started.
///
/// Every collective method must be called by every rank of the communicator,
/// in the same order (MPI's rule); a rank that skips one leaves the others
/// waiting. The sums here are in rank order, so that their result is bitwise
/// the same on every rank and in every run, whatever algorithm the MPI
/// library picks for its own reductions.
public struct Communicator {
    let handle: MPI_Comm
    /// This process's rank, `0 ..< size`.
    public let rank: Int
    /// The number of ranks.
    public let size: Int

    init(handle: MPI_Comm) throws {
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_rank(handle, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(handle, &s), "MPI_Comm_size")
        self.handle = handle
        rank = Int(r)
        size = Int(s)
    }

    /// Starts MPI (`MPI_Init`, once per process; a second call only returns
    /// the world) and makes errors on the world communicator return to the
    /// caller, who gets them as ``MPIError``, instead of aborting every rank
    /// (MPI's default). Call ``finalize()`` before the process exits.
    public static func initialize() throws -> Communicator {
        var started: Int32 = 0
        try check(MPI_Initialized(&started), "MPI_Initialized")
        if started == 0 {
            try check(MPI_Init(nil, nil), "MPI_Init")
            try check(MPI_Comm_set_errhandler(lk_mpi_comm_world(), lk_mpi_errors_return()), "MPI_Comm_set_errhandler")
        }
        return try world
    }

    /// Ends MPI (`MPI_Finalize`): after it no communicator can be used.
    public static func finalize() throws {
        var done: Int32 = 0
        try check(MPI_Finalized(&done), "MPI_Finalized")
        if done == 0 { try check(MPI_Finalize(), "MPI_Finalize") }
    }

    /// Every process of the job (`MPI_COMM_WORLD`); MPI must be initialized.
    public static var world: Communicator {
        get throws { try Communicator(handle: lk_mpi_comm_world()) }
    }

    /// Waits until every rank has called it (`MPI_Barrier`).
    public func barrier() throws {
        try check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// One count >= 0 per rank (and `mine` at this rank's place, when given); else a
    /// `LossKitError` naming the argument. Thrown before any communication: a
    /// rank that throws here leaves the others waiting in the collective, so
    /// callers pass counts every rank agrees on (gathered ones).
    func checkCounts(_ counts: [Int], mine: Int?, argument: String) throws {
        guard counts.count == size else {
            throw LossKitError.shapeMismatch(argument: "\(argument) counts", expected: "\(size) (one per rank)",
                                             actual: "\(counts.count)")
        }
        if let i = counts.firstIndex(where: { $0 < 0 }) {
            throw LossKitError.invalidParameter(argument: "\(argument) counts[\(i)]", value: "\(counts[i])", reason: "must be >= 0")
        }
        if let mine, counts[rank] != mine {
            throw LossKitError.shapeMismatch(argument: "\(argument) values", expected: "counts[\(rank)] = \(counts[rank])",
                                             actual: "\(mine)")
        }
    }

    /// Every rank's `values`, in rank order; every rank passes the same count (`MPI_Allgather`).
    public func allGather<T: MPIScalar>(_ values: [T]) throws -> [T] {
        let n = try mpiCount("allGather values", values.count)
        _ = try mpiCount("allGather result", values.count * size)
        guard !values.isEmpty else { return [] }
        return try [T](unsafeUninitializedCapacity: values.count * size) { out, initialized in
            try values.withUnsafeBufferPointer { v in
                try check(MPI_Allgather(v.baseAddress, n, T.mpiDatatype, out.baseAddress, n, T.mpiDatatype, handle),
                          "MPI_Allgather")
            }
            initialized = values.count * size
        }
    }

    /// Every rank's `values` concatenated in rank order, where rank r holds
    /// `counts[r]` of them (0 allowed); `counts` is the same on every rank
    /// and `counts[rank] == values.count` (`MPI_Allgatherv`).
    public func allGatherV<T: MPIScalar>(_ values: [T], counts: [Int]) throws -> [T] {
        try checkCounts(counts, mine: values.count, argument: "allGatherV")
        let c32 = try counts.map { try mpiCount("allGatherV counts", $0) }
        let total = counts.reduce(0, +)
        _ = try mpiCount("allGatherV result", total)
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { displacements[r] = displacements[r - 1] + c32[r - 1] }
        // MPI wants valid pointers even for empty buffers.
        return try [T](unsafeUninitializedCapacity: max(total, 1)) { buffer, initialized in
            try values.withUnsafeBufferPointer { v in
                let send = v.baseAddress ?? UnsafePointer(buffer.baseAddress!)
                try check(MPI_Allgatherv(send, c32[rank], T.mpiDatatype, buffer.baseAddress, c32,
                                         displacements, T.mpiDatatype, handle), "MPI_Allgatherv")
            }
            initialized = total
        }
    }

    /// The sum over ranks of `values` (the same count on every rank), added
    /// in rank order: bitwise the same on every rank. Gathers every rank's
    /// copy (memory `size x values.count`), for small buffers such as a
    /// model's gradient.
    public func allReduceSum(_ values: [Float]) throws -> [Float] {
        let all = try allGather(values)
        var sum = Array(all.prefix(values.count))
        for r in 1..<max(size, 1) {
            for i in sum.indices { sum[i] += all[r * values.count + i] }
        }
        return sum
    }

    /// Reduce-scatter with a fixed order: every rank passes `values` of
    /// `counts.reduce(0, +)` elements (the same counts everywhere); rank r
    /// gets the sum over ranks of the slice `counts[0 ..< r].sum ..< +counts[r]`,
    /// added in rank order (rank 0's + rank 1's + ...). The slices travel
    /// with `MPI_Alltoallv` - each rank sends every other rank only that
    /// rank's slice, the traffic of `MPI_Reduce_scatter` - and the sum is
    /// done here, so its order does not depend on the MPI library's choice of
    /// algorithm (Open MPI's tuned reduce-scatter switches between recursive
    /// halving and a ring by message size, which associate the terms
    /// differently when there are more than two ranks).
    public func reduceScatterSum(_ values: [Float], counts: [Int]) throws -> [Float] {
        try checkCounts(counts, mine: nil, argument: "reduceScatterSum")
        let total = counts.reduce(0, +)
        guard values.count == total else {
            throw LossKitError.shapeMismatch(argument: "reduceScatterSum values", expected: "\(total) (the sum of counts)",
                                             actual: "\(values.count)")
        }
        let c32 = try counts.map { try mpiCount("reduceScatterSum counts", $0) }
        _ = try mpiCount("reduceScatterSum values", total)
        let mine = counts[rank]
        _ = try mpiCount("reduceScatterSum result", mine * size)
        var sendDisplacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { sendDisplacements[r] = sendDisplacements[r - 1] + c32[r - 1] }
        let receiveCounts = [Int32](repeating: c32[rank], count: size)
        let receiveDisplacements = (0..<size).map { Int32($0) * c32[rank] }
        var received = [Float](repeating: 0, count: max(mine * size, 1))
        var send = values
        if send.isEmpty { send = [0] }  // MPI wants valid pointers even for empty buffers
        try send.withUnsafeBufferPointer { s in
            try received.withUnsafeMutableBufferPointer { r in
                try check(MPI_Alltoallv(s.baseAddress, c32, sendDisplacements, lk_mpi_float(),
                                        r.baseAddress, receiveCounts, receiveDisplacements, lk_mpi_float(), handle),
                          "MPI_Alltoallv")
            }
        }
        var sum = Array(received.prefix(mine))
        for r in 1..<max(size, 1) {
            for i in 0..<mine { sum[i] += received[r * mine + i] }
        }
        return sum
    }
}
