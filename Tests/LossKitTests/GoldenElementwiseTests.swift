import CLossKit
import LossKit
import Testing
import _TestSupport

/// Every case of the elementwise and softmax golden files (PyTorch 2.15 /
/// torchvision 0.29 in float64), on the portable backend and on the C
/// backend at every ISA path this CPU has.
@Suite("Golden: regression and classification vs PyTorch")
struct GoldenElementwiseTests {
    static let regressionOps = ["l1", "mse", "smooth_l1", "huber", "wing", "adaptive_wing", "focal_regression", "shrinkage"]
    static let classificationOps = ["bce_logits", "sigmoid_focal", "softmax_ce"]
    static let allCases: [GoldenCase] = (regressionOps + classificationOps).flatMap { try! Golden.cases($0) }
    /// Per-element weights (mmpose's target weights; PyTorch's BCE `weight`), from
    /// Benchmarks/peers/make_weighted_elementwise_fixture.py.
    static let weightedCases: [GoldenCase] = try! Golden.cases("weighted_elementwise")

    @Test("golden case", arguments: allCases + weightedCases)
    func goldenCase(_ golden: GoldenCase) throws {
        #expect(!golden.expected.isEmpty)
        try check(golden, execution: .portable, label: "portable")
        try forEachISA { isa in
            try check(golden, execution: .default, label: "c/\(isaName(isa))")
        }
    }

    func check(_ golden: GoldenCase, execution: Execution, label: String) throws {
        let reduction = reduction(golden.string("reduction") ?? "mean")
        let result = try Self.evaluate(golden, reduction: reduction, execution: execution)
        let expectedLoss = golden.output("loss")
        if reduction == .none {
            let mismatch = firstMismatch(result.unreduced ?? [], expectedLoss.data, rtol: 1e-5, atol: 1e-6)
            #expect(mismatch == nil, "\(golden) \(label) loss \(mismatch ?? "")")
        } else {
            #expect(isClose(Double(result.value), expectedLoss.scalar, rtol: 1e-4, atol: 1e-6),
                    "\(golden) \(label): loss \(result.value) vs \(expectedLoss.scalar)")
        }
        let gradKey = golden.expected.keys.first { $0.hasPrefix("grad_") }!
        let mismatch = firstMismatch(result.gradient ?? [], golden.output(gradKey).data, rtol: 1e-5, atol: 1e-6)
        #expect(mismatch == nil, "\(golden) \(label) \(gradKey) \(mismatch ?? "")")
    }

    /// Calls the LossKit function a golden case describes.
    static func evaluate(_ g: GoldenCase, reduction: Reduction, execution: Execution) throws -> LossResult {
        switch g.op {
        case "weighted_elementwise":
            let op = g.string("loss")!, weights = g.input("weight").floats
            if op == "bce_logits" {
                return try binaryCrossEntropyWithLogits(logits: g.input("pred").floats, targets: g.input("target").floats,
                                                        weight: weights, posWeight: g.float("pos_weight").map { [$0] },
                                                        reduction: reduction, execution: execution)
            }
            return try elementwiseLossCall(op, g, pred: g.input("pred").floats, target: g.input("target").floats,
                                           weights: weights, reduction: reduction, execution: execution)
        case "softmax_ce":
            let logits = g.input("logits")
            return try softmaxCrossEntropy(
                logits: logits.floats, labels: g.input("labels").ints, classes: logits.shape[1],
                classWeights: g.inputs["class_weights"]?.floats, ignoreIndex: Int(g.number("ignore_index") ?? -100),
                labelSmoothing: g.float("label_smoothing") ?? 0, reduction: reduction, execution: execution)
        case "bce_logits":
            let pw = g.float("pos_weight").map { [$0] }
            return try binaryCrossEntropyWithLogits(logits: g.input("logits").floats, targets: g.input("targets").floats,
                                                    posWeight: pw, reduction: reduction, execution: execution)
        case "sigmoid_focal":
            return try sigmoidFocalLoss(logits: g.input("logits").floats, targets: g.input("targets").floats,
                                        alpha: g.float("alpha")!, gamma: g.float("gamma")!,
                                        reduction: reduction, execution: execution)
        default:
            return try elementwiseLossCall(g.op, g, pred: g.input("pred").floats, target: g.input("target").floats,
                                           reduction: reduction, execution: execution)
        }
    }

    /// The regression losses by golden op name.
    static func elementwiseLossCall(_ op: String, _ g: GoldenCase, pred: [Float], target: [Float], weights: [Float]? = nil,
                                    reduction: Reduction, execution: Execution) throws -> LossResult {
        let loss: ElementwiseLoss
        switch op {
        case "l1": loss = .l1
        case "mse": loss = .mse
        case "smooth_l1": loss = .smoothL1(beta: g.float("beta")!)
        case "huber": loss = .huber(delta: g.float("delta")!)
        case "wing": loss = .wing(w: g.float("w")!, epsilon: g.float("epsilon")!)
        case "adaptive_wing":
            loss = .adaptiveWing(alpha: g.float("alpha")!, omega: g.float("omega")!,
                                 epsilon: g.float("epsilon")!, theta: g.float("theta")!)
        case "focal_regression": loss = .focalRegression(gamma: g.float("gamma")!)
        case "shrinkage":
            loss = .shrinkage(a: g.float("a")!, c: g.float("c")!,
                              weight: g.bool("target_weight") ?? true ? .exponentialTarget : .none)
        default: fatalError("no mapping for \(op)")
        }
        let (value, unreduced, gradient) = try runElementwise(loss, pred, target, weights: weights,
                                                              reduction: reduction, execution: execution)
        return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil, gradient: gradient)
    }
}

func reduction(_ name: String) -> Reduction {
    switch name {
    case "none": return .none
    case "sum": return .sum
    default: return .mean
    }
}
