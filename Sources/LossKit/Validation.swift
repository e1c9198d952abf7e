import CLossKit

/// Argument checks shared by every op; each throws a ``LossKitError`` naming the argument.
enum Check {
    static func sameCount(_ name: String, _ count: Int, as reference: String, _ expected: Int) throws {
        guard count == expected else {
            throw LossKitError.shapeMismatch(argument: name, expected: "\(expected) elements (as \(reference))", actual: "\(count) elements")
        }
    }

    static func parameter(_ ok: Bool, _ name: String, _ value: Float, _ reason: String) throws {
        guard ok else { throw LossKitError.invalidParameter(argument: name, value: "\(value)", reason: reason) }
    }

    static func finite(_ name: String, _ value: Float) throws {
        try parameter(value.isFinite, name, value, "must be finite")
    }

    static func positive(_ name: String, _ value: Float) throws {
        try parameter(value.isFinite && value > 0, name, value, "must be finite and > 0")
    }

    static func nonNegative(_ name: String, _ value: Float) throws {
        try parameter(value.isFinite && value >= 0, name, value, "must be finite and >= 0")
    }

    /// The element count of a shape, checked: a product that overflows `Int`
    /// (or a negative factor) is a typed error naming the argument, never a trap.
    /// Every size product in the Swift layer goes through here.
    static func elementCount(_ name: String, _ shape: Int...) throws -> Int {
        var count = 1
        for factor in shape {
            guard factor >= 0 else {
                throw LossKitError.invalidShape(argument: name, shape: shape, reason: "sizes must be >= 0")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: factor)
            guard !overflow else {
                throw LossKitError.invalidShape(argument: name, shape: shape, reason: "its element count overflows Int")
            }
            count = product
        }
        return count
    }

    /// The caller's output buffer has room for exactly `count` values.
    static func output(_ name: String, _ buffer: UnsafeMutableBufferPointer<Float>?, _ count: Int) throws {
        if let buffer, buffer.count != count {
            throw LossKitError.shapeMismatch(argument: name, expected: "\(count) elements", actual: "\(buffer.count) elements")
        }
    }

    /// Labels in [0, classes) or equal to `ignoreIndex`.
    static func labels(_ name: String, _ labels: UnsafeBufferPointer<Int>, classes: Int, ignoreIndex: Int?) throws {
        for (i, y) in labels.enumerated() where y != ignoreIndex && (y < 0 || y >= classes) {
            let ignored = ignoreIndex.map { " or the ignore index \($0)" } ?? ""
            throw LossKitError.labelOutOfRange(argument: name, index: i, label: y, validRange: "0..<\(classes)\(ignored)")
        }
    }
}

/// Turns a C status into a thrown error (arguments were validated in Swift,
/// so only resource failures, or a validation gap, reach here).
@inline(__always)
func checkStatus(_ status: Int32, _ function: String) throws {
    guard status == LOSSKIT_OK else {
        throw LossKitError.kernelFailure(function: function, status: status, message: String(cString: losskit_status_string(status)))
    }
}

extension Array where Element == Float {
    /// An array of `count` zeros whose storage a kernel fills in.
    static func output(_ count: Int) -> [Float] { [Float](repeating: 0, count: count) }
}

/// Sum in Double, in order (the value reported for reduction `.none`).
func orderedSum(_ values: UnsafeBufferPointer<Float>) -> Float {
    var s = 0.0
    for v in values { s += Double(v) }
    return Float(s)
}
