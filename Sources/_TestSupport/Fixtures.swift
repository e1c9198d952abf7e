import Foundation

/// One tensor of a golden case: its shape and its values (NaN for JSON null).
public struct GoldenTensor: Sendable {
    public var shape: [Int]
    public var data: [Double]

    public var floats: [Float] { data.map(Float.init) }
    public var ints: [Int] { data.map { Int($0) } }
    public var scalar: Double { data[0] }
}

/// One case of a `../shared/golden/<op>.json` file.
public struct GoldenCase: Sendable, CustomStringConvertible {
    public var op: String
    public var name: String
    public var params: [String: GoldenParam]
    public var inputs: [String: GoldenTensor]
    public var expected: [String: GoldenTensor]

    public var description: String { "\(op)/\(name)" }

    public func input(_ key: String) -> GoldenTensor {
        guard let t = inputs[key] else { fatalError("\(self): no input \(key) (has \(inputs.keys.sorted()))") }
        return t
    }
    public func output(_ key: String) -> GoldenTensor {
        guard let t = expected[key] else { fatalError("\(self): no expected \(key) (has \(expected.keys.sorted()))") }
        return t
    }
    public func number(_ key: String) -> Double? {
        if case let .number(v) = params[key] { return v }
        return nil
    }
    public func float(_ key: String) -> Float? { number(key).map(Float.init) }
    public func string(_ key: String) -> String? {
        if case let .string(s) = params[key] { return s }
        return nil
    }
    public func bool(_ key: String) -> Bool? {
        if case let .bool(b) = params[key] { return b }
        return nil
    }
    public func numbers(_ key: String) -> [Double]? {
        if case let .numbers(v) = params[key] { return v }
        return nil
    }
}

/// A case parameter.
public enum GoldenParam: Sendable, Equatable {
    case number(Double), string(String), bool(Bool), numbers([Double]), null
}

/// Loads golden cases from the copies in `Tests/LossKitTests/Fixtures`.
public enum Golden {
    /// The fixtures folder, found from this source file (the tests run from the checkout).
    public static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/LossKitTests/Fixtures")
    }

    public static func cases(_ op: String) throws -> [GoldenCase] {
        let url = directory.appendingPathComponent("\(op).json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let cases = root["cases"] as! [[String: Any]]
        return cases.map { c in
            GoldenCase(op: op, name: c["name"] as! String,
                       params: (c["params"] as? [String: Any] ?? [:]).mapValues(param),
                       inputs: (c["inputs"] as! [String: Any]).mapValues(tensor),
                       expected: (c["expected"] as! [String: Any]).mapValues(tensor))
        }
    }

    private static func tensor(_ any: Any) -> GoldenTensor {
        let d = any as! [String: Any]
        let shape = (d["shape"] as! [Any]).map { ($0 as! NSNumber).intValue }
        let data = (d["data"] as! [Any]).map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        return GoldenTensor(shape: shape, data: data)
    }

    private static func param(_ any: Any) -> GoldenParam {
        if let b = any as? Bool, "\(type(of: any))".contains("Bool") { return .bool(b) }
        switch any {
        case let n as NSNumber: return .number(n.doubleValue)
        case let s as String: return .string(s)
        case let a as [Any]: return .numbers(a.map { ($0 as? NSNumber)?.doubleValue ?? .nan })
        default: return .null
        }
    }
}
