import Foundation
import LossKit
import Testing

@Suite("NumPy .npy files for losskit-eval")
struct ReIDEvalNumpyTests {
    /// The bytes numpy 2 writes for np.save(f, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)).
    static func numpyBytes(descr: String, fortran: String = "False", shape: String, payload: [UInt8]) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: payload)
        return d
    }

    @Test("float32 and int64 arrays in C order round-trip; numpy's own header layout parses")
    func roundTrip() throws {
        let a = NumpyArray(shape: [2, 3], values: .float32([1, 2, 3, 4, 5, 6]))
        #expect(try NumpyArray(npy: a.npyData()) == a)
        let b = NumpyArray(shape: [4], values: .int64([-1, 0, 7, Int64.max]))
        #expect(try NumpyArray(npy: b.npyData()) == b)
        let payload = [Float(1.5), -2].withUnsafeBytes { Array($0) }
        let parsed = try NumpyArray(npy: Self.numpyBytes(descr: "<f4", shape: "(2,)", payload: payload))
        #expect(parsed.shape == [2] && parsed.values == .float32([1.5, -2]))
        #expect(try parsed.floats(rank: 1, name: "x") == [1.5, -2])
        #expect(throws: NumpyFileError.self) { try parsed.floats(rank: 2, name: "x") }
        #expect(throws: NumpyFileError.self) { try parsed.integers(name: "x") }
    }

    @Test("anything else is a clear error, never a crash")
    func badFiles() throws {
        let four = [UInt8](repeating: 0, count: 8)
        let cases: [(Data, String)] = [
            (Data("hello".utf8), "magic"),
            (Self.numpyBytes(descr: "<f8", shape: "(1,)", payload: four), "'<f8'"),
            (Self.numpyBytes(descr: ">f4", shape: "(2,)", payload: four), "'>f4'"),
            (Self.numpyBytes(descr: "<i4", shape: "(2,)", payload: four), "'<i4'"),
            (Self.numpyBytes(descr: "<f4", fortran: "True", shape: "(1, 2)", payload: four), "Fortran"),
            (Self.numpyBytes(descr: "<f4", shape: "(3,)", payload: four), "needs 12"),
            (Self.numpyBytes(descr: "<f4", shape: "(9223372036854775807, 4)", payload: four), "overflows"),
            (Data(Self.numpyBytes(descr: "<f4", shape: "(2,)", payload: four).prefix(20)), "truncated"),
        ]
        for (data, fragment) in cases {
            do {
                _ = try NumpyArray(npy: data, path: "f.npy")
                Issue.record("\(fragment): no error")
            } catch let error as NumpyFileError {
                #expect(error.description.contains(fragment), "\(error.description)")
                #expect(error.description.hasPrefix("f.npy"))
            }
        }
    }
}
