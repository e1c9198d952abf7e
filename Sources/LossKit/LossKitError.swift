import Foundation

/// An input LossKit refused, with the argument it concerns and what it saw.
///
/// Every public function validates its arguments before any kernel runs and
/// throws one of these; nothing is computed from a bad input.
public enum LossKitError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// Two arguments whose sizes must agree do not.
    case shapeMismatch(argument: String, expected: String, actual: String)
    /// An argument has a shape LossKit cannot use (for example, empty where data is required).
    case invalidShape(argument: String, shape: [Int], reason: String)
    /// A scalar parameter is outside its domain.
    case invalidParameter(argument: String, value: String, reason: String)
    /// A class label is neither in `validRange` nor the ignore index.
    case labelOutOfRange(argument: String, index: Int, label: Int, validRange: String)
    /// A box is malformed (x2 < x1, y2 < y1, or a non-finite coordinate).
    case invalidBox(argument: String, index: Int, box: [Float], reason: String)
    /// A matrix that must be symmetric positive semi-definite is not.
    case notPositiveSemidefinite(argument: String, reason: String)
    /// A C kernel returned an error status (scratch allocation, threads).
    case kernelFailure(function: String, status: Int32, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(argument, expected, actual):
            return "\(argument): expected \(expected), got \(actual)"
        case let .invalidShape(argument, shape, reason):
            return "\(argument) of shape \(shape): \(reason)"
        case let .invalidParameter(argument, value, reason):
            return "\(argument) = \(value): \(reason)"
        case let .labelOutOfRange(argument, index, label, validRange):
            return "\(argument)[\(index)] = \(label) is outside \(validRange)"
        case let .invalidBox(argument, index, box, reason):
            return "\(argument)[\(index)] = \(box): \(reason)"
        case let .notPositiveSemidefinite(argument, reason):
            return "\(argument) is not positive semi-definite: \(reason)"
        case let .kernelFailure(function, status, message):
            return "\(function) failed with status \(status): \(message)"
        }
    }

    /// The same text as ``description``, so `error.localizedDescription`
    /// names the argument and what was wrong (not Foundation's generic
    /// "The operation could not be completed").
    public var errorDescription: String? { description }
}
