#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small JSON reader for the two COCO file shapes: it walks the bytes once, keeps
/// the fields the evaluation reads and skips the rest (a 500,000-detection results file
/// in well under a second, where Foundation's decoders take 8-20 s). Numbers go through
/// `strtod`, correctly rounded, as Python's `json` reads them. Errors name the source,
/// the JSON path and the byte offset.
struct COCOJSONReader {
    private let bytes: [UInt8]  // the document, then a 0 byte (strtod's terminator)
    private var pos = 0
    private let source: String
    /// Where the reader is: keys and array indices (rendered only for an error).
    private var path: [PathComponent] = []
    private enum PathComponent { case key(String), index(Int) }

    init(_ data: [UInt8], source: String) {
        bytes = data + [0]
        self.source = source
    }

    // MARK: - Errors

    func fail(_ reason: String) -> LossKitError {
        let at = path.map { c -> String in
            switch c {
            case let .key(k): return ".\(k)"
            case let .index(i): return "[\(i)]"
            }
        }.joined()
        return LossKitError.invalidParameter(argument: source, value: at.isEmpty ? "(document)" : at,
                                             reason: "not a valid COCO file: \(reason) (byte \(min(pos, bytes.count - 1)))")
    }

    // MARK: - Tokens

    private mutating func skipSpace() {
        while pos < bytes.count - 1 {
            switch bytes[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    private mutating func peek() -> UInt8 {
        skipSpace()
        return bytes[pos]
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws {
        guard peek() == c else { throw fail("expected \(what)") }
        pos += 1
    }

    /// Consumes `c` if it is next.
    private mutating func accept(_ c: UInt8) -> Bool {
        if peek() == c { pos += 1; return true }
        return false
    }

    mutating func string() throws -> String {
        try expect(0x22, "a string")
        // the common case: no escapes, decoded straight from the document's bytes
        var end = pos
        while end < bytes.count - 1, bytes[end] != 0x22, bytes[end] != 0x5C { end += 1 }
        if end < bytes.count - 1, bytes[end] == 0x22 {
            defer { pos = end + 1 }
            return String(decoding: bytes[pos ..< end], as: UTF8.self)
        }
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count - 1 else { throw fail("unterminated string") }
            let c = bytes[pos]
            pos += 1
            if c == 0x22 { break }
            if c != 0x5C { out.append(c); continue }
            guard pos < bytes.count - 1 else { throw fail("unterminated string") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard pos + 4 <= bytes.count - 1, let v = UInt32(String(decoding: bytes[pos ..< pos + 4], as: UTF8.self), radix: 16) else {
                    throw fail("bad \\u escape")
                }
                pos += 4
                out += Array(String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8)
            default: throw fail("bad escape in a string")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func number() throws -> Double {
        skipSpace()
        let c = bytes[pos]
        guard c == 0x2D || (c >= 0x30 && c <= 0x39) else { throw fail("expected a number") }
        return try bytes.withUnsafeBufferPointer { buf in
            let start = UnsafeRawPointer(buf.baseAddress! + pos).assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>? = nil
            let v = strtod(start, &end)
            let used = end.map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? 0
            guard used > 0 else { throw fail("expected a number") }
            pos += used
            return v
        }
    }

    mutating func integer() throws -> Int {
        let v = try number()
        guard v == v.rounded(), abs(v) < 9.0e15 else { throw fail("expected an integer, got \(v)") }
        return Int(v)
    }

    /// A 0 / 1 flag written as a number or a boolean.
    mutating func flag() throws -> Bool {
        switch peek() {
        case 0x74: try literal("true"); return true
        case 0x66: try literal("false"); return false
        default:
            let v = try number()
            guard v == 0 || v == 1 else { throw fail("a flag must be 0 or 1, got \(v)") }
            return v == 1
        }
    }

    mutating func numbers() throws -> [Double] {
        var out: [Double] = []
        try array { r, _ in out.append(try r.number()) }
        return out
    }

    private mutating func literal(_ word: String) throws {
        for b in word.utf8 {
            guard bytes[pos] == b else { throw fail("expected \(word)") }
            pos += 1
        }
    }

    /// Skips any value.
    mutating func skip() throws {
        switch peek() {
        case 0x22: _ = try string()
        case 0x7B: try object { r, _ in try r.skip() }
        case 0x5B: try array { r, _ in try r.skip() }
        case 0x74: try literal("true")
        case 0x66: try literal("false")
        case 0x6E: try literal("null")
        default: _ = try number()
        }
    }

    /// `[v, v, ...]`, calling `element(index)` with the reader at each value.
    mutating func array(_ element: (inout COCOJSONReader, Int) throws -> Void) throws {
        try expect(0x5B, "an array")
        if accept(0x5D) { return }
        var i = 0
        repeat {
            path.append(.index(i))
            try element(&self, i)
            path.removeLast()
            i += 1
        } while accept(0x2C)
        try expect(0x5D, "',' or ']'")
    }

    /// `{"k": v, ...}`, calling `member(key)` with the reader at each value.
    mutating func object(_ member: (inout COCOJSONReader, String) throws -> Void) throws {
        try expect(0x7B, "an object")
        if accept(0x7D) { return }
        repeat {
            let key = try string()
            try expect(0x3A, "':'")
            path.append(.key(key))
            try member(&self, key)
            path.removeLast()
        } while accept(0x2C)
        try expect(0x7D, "',' or '}'")
    }

    /// Nothing but whitespace may follow the document.
    mutating func end() throws {
        skipSpace()
        guard pos == bytes.count - 1 else { throw fail("unexpected data after the document") }
    }

    /// The error for a required field that an object lacked (`path` names the object).
    func missing(_ key: String) -> LossKitError {
        var r = self
        r.path.append(.key(key))
        return r.fail("missing field \"\(key)\"")
    }
}
