import Foundation

/// A NumPy `.npy` array: its shape and its values, as the evaluation commands read them.
///
/// Versions 1.0, 2.0 and 3.0 of the format; little-endian float32 (`<f4`)
/// or int64 (`<i8`), C order. Anything else - big-endian, Fortran order,
/// another dtype, a truncated file - is a ``NumpyFileError`` that says what
/// the file holds and what was expected, never a crash.
public struct NumpyArray: Sendable, Equatable {
    /// The values, in C order.
    public enum Values: Sendable, Equatable {
        case float32([Float])
        case int64([Int64])
    }

    /// The array's shape (empty for a scalar).
    public var shape: [Int]
    /// The array's values.
    public var values: Values

    /// An array to write with ``npyData()``.
    public init(shape: [Int], values: Values) {
        self.shape = shape
        self.values = values
    }

    /// Reads a `.npy` file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NumpyFileError(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        try self.init(npy: data, path: url.path)
    }

    /// Parses the bytes of a `.npy` file (`path` only names it in errors).
    public init(npy data: Data, path: String = "<data>") throws {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> NumpyFileError { NumpyFileError(path: path, reason: reason) }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw fail("is not a NumPy .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("is truncated in its header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("has .npy format version \(major).\(bytes[7]) (1.0, 2.0 and 3.0 are read)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("is truncated in its header") }
        guard let header = String(bytes: bytes[headerStart ..< headerStart + headerLength], encoding: .utf8) else {
            throw fail("has a header that is not text")
        }
        let descr = try Self.field("descr", in: header, path: path)
        let fortran = try Self.field("fortran_order", in: header, path: path)
        let shapeText = try Self.field("shape", in: header, path: path)
        guard fortran == "False" else { throw fail("is in Fortran order (C order is read: np.ascontiguousarray first)") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw fail("has a shape \(shapeText) that cannot be read") }
            shape.append(v)
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw fail("has a shape \(shapeText) whose size overflows") }
            count = p
        }
        let body = headerStart + headerLength
        let itemSize: Int
        switch descr {
        case "'<f4'", "\"<f4\"": itemSize = 4
        case "'<i8'", "\"<i8\"": itemSize = 8
        default:
            throw fail("holds dtype \(descr) (expected little-endian float32 '<f4' or int64 '<i8')")
        }
        let (need, o) = count.multipliedReportingOverflow(by: itemSize)
        guard !o, bytes.count - body == need else {
            throw fail("holds \(bytes.count - body) bytes of data where its shape \(shape) needs \(o ? "too many" : "\(need)")")
        }
        if itemSize == 4 {
            var v = [Float](repeating: 0, count: count)
            v.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body...])) } }
            #if _endian(big)
            v = v.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
            #endif
            values = .float32(v)
        } else {
            var v = [Int64](repeating: 0, count: count)
            v.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body...])) } }
            #if _endian(big)
            v = v.map { $0.byteSwapped }
            #endif
            values = .int64(v)
        }
        self.shape = shape
    }

    /// The float32 values, if the array holds them, with the shape checked by `rank`.
    public func floats(rank: Int, name: String) throws -> [Float] {
        guard case let .float32(v) = values else {
            throw NumpyFileError(path: name, reason: "holds int64 values (expected float32)")
        }
        guard shape.count == rank else {
            throw NumpyFileError(path: name, reason: "has shape \(shape) (expected \(rank) dimensions)")
        }
        return v
    }

    /// The int64 values of a one-dimensional array.
    public func integers(name: String) throws -> [Int64] {
        guard case let .int64(v) = values else {
            throw NumpyFileError(path: name, reason: "holds float32 values (expected int64)")
        }
        guard shape.count == 1 else {
            throw NumpyFileError(path: name, reason: "has shape \(shape) (expected one dimension)")
        }
        return v
    }

    /// The `.npy` bytes of the array (version 1.0, C order).
    public func npyData() -> Data {
        let descr: String
        switch values { case .float32: descr = "<f4"; case .int64: descr = "<i8" }
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        switch values {
        case let .float32(v): v.withUnsafeBytes { data.append(contentsOf: $0) }
        case let .int64(v): v.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    private static func field(_ key: String, in header: String, path: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else {
            throw NumpyFileError(path: path, reason: "has no '\(key)' in its header")
        }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else {
                throw NumpyFileError(path: path, reason: "has an unterminated shape in its header")
            }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}

/// A `.npy` file that cannot be used: which file and why.
public struct NumpyFileError: Error, CustomStringConvertible, LocalizedError {
    /// The file.
    public var path: String
    /// What is wrong with it.
    public var reason: String
    public var description: String { "\(path) \(reason)" }
    public var errorDescription: String? { description }
}
