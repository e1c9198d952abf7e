import Foundation

/// A box in COCO's `bbox` form: top-left corner, width and height (pixels, no +1).
public struct COCOBox: Sendable, Hashable {
    public var x: Double, y: Double, width: Double, height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// A COCO instances file (`instances_val2017.json` and the like): the ground truth of
/// ``cocoEvaluate(groundTruth:detections:execution:)`` and ``vocEvaluate(groundTruth:detections:metric:iouThreshold:plusOne:execution:)``.
///
/// Only the fields the evaluation reads are kept: image ids, category ids and names, and per
/// annotation its `id`, `image_id`, `category_id`, `bbox`, `area`, `iscrowd` (default 0) and
/// `difficult` (default 0; not a COCO field: the VOC evaluation's difficult flag).
public struct COCOGroundTruth: Sendable {
    /// A category: its id and name.
    public struct Category: Sendable, Hashable {
        public var id: Int
        public var name: String
        public init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// One ground-truth box.
    public struct Annotation: Sendable, Hashable {
        public var id: Int
        public var imageId: Int
        public var categoryId: Int
        public var bbox: COCOBox
        /// The `area` field (for instances: the mask's area, not w h); it decides the area range.
        public var area: Double
        public var isCrowd: Bool
        public var isDifficult: Bool

        public init(id: Int, imageId: Int, categoryId: Int, bbox: COCOBox, area: Double,
                    isCrowd: Bool = false, isDifficult: Bool = false) {
            self.id = id
            self.imageId = imageId
            self.categoryId = categoryId
            self.bbox = bbox
            self.area = area
            self.isCrowd = isCrowd
            self.isDifficult = isDifficult
        }
    }

    public var imageIds: [Int]
    public var categories: [Category]
    public var annotations: [Annotation]

    public init(imageIds: [Int], categories: [Category], annotations: [Annotation]) {
        self.imageIds = imageIds
        self.categories = categories
        self.annotations = annotations
    }

    /// Parses a COCO instances JSON document.
    /// - Throws: ``LossKitError/invalidParameter(argument:value:reason:)`` naming the file
    ///   (`source`) and the JSON path of the first malformed field.
    public init(jsonData: Data, source: String = "ground truth") throws {
        let file: GroundTruthFile = try decodeJSON(GroundTruthFile.self, from: jsonData, source: source)
        imageIds = file.images.map(\.id)
        categories = file.categories.map { Category(id: $0.id, name: $0.name ?? "\($0.id)") }
        annotations = try file.annotations.enumerated().map { index, a in
            Annotation(id: a.id, imageId: a.image_id, categoryId: a.category_id,
                       bbox: try box(a.bbox, "\(source): annotations[\(index)].bbox"), area: a.area,
                       isCrowd: a.iscrowd.value, isDifficult: a.difficult.value)
        }
    }

    /// Reads and parses a COCO instances file.
    public init(contentsOf url: URL) throws {
        try self.init(jsonData: try readFile(url), source: url.path)
    }
}

/// A COCO results file: a JSON array of `{"image_id", "category_id", "bbox", "score"}`.
public struct COCODetections: Sendable {
    /// One detection.
    public struct Detection: Sendable, Hashable {
        public var imageId: Int
        public var categoryId: Int
        public var bbox: COCOBox
        public var score: Double
        public init(imageId: Int, categoryId: Int, bbox: COCOBox, score: Double) {
            self.imageId = imageId
            self.categoryId = categoryId
            self.bbox = bbox
            self.score = score
        }
    }

    /// In file order: it breaks score ties, as in pycocotools.
    public var detections: [Detection]

    public init(_ detections: [Detection]) { self.detections = detections }

    /// Parses a COCO results JSON document.
    public init(jsonData: Data, source: String = "detections") throws {
        let file = try decodeJSON([DetectionRecord].self, from: jsonData, source: source)
        detections = try file.enumerated().map { index, d in
            Detection(imageId: d.image_id, categoryId: d.category_id,
                      bbox: try box(d.bbox, "\(source): [\(index)].bbox"), score: d.score)
        }
    }

    /// Reads and parses a COCO results file.
    public init(contentsOf url: URL) throws {
        try self.init(jsonData: try readFile(url), source: url.path)
    }
}

// MARK: - JSON records (only the fields read)

private struct GroundTruthFile: Decodable {
    struct Image: Decodable { var id: Int }
    struct Category: Decodable { var id: Int; var name: String? }
    struct Annotation: Decodable {
        var id: Int
        var image_id: Int
        var category_id: Int
        var bbox: [Double]
        var area: Double
        var iscrowd: FlexibleFlag
        var difficult: FlexibleFlag

        enum CodingKeys: String, CodingKey { case id, image_id, category_id, bbox, area, iscrowd, difficult }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(Int.self, forKey: .id)
            image_id = try c.decode(Int.self, forKey: .image_id)
            category_id = try c.decode(Int.self, forKey: .category_id)
            bbox = try c.decode([Double].self, forKey: .bbox)
            area = try c.decode(Double.self, forKey: .area)
            iscrowd = try c.decodeIfPresent(FlexibleFlag.self, forKey: .iscrowd) ?? FlexibleFlag(value: false)
            difficult = try c.decodeIfPresent(FlexibleFlag.self, forKey: .difficult) ?? FlexibleFlag(value: false)
        }
    }
    var images: [Image]
    var categories: [Category]
    var annotations: [Annotation]
}

private struct DetectionRecord: Decodable {
    var image_id: Int
    var category_id: Int
    var bbox: [Double]
    var score: Double
}

/// A 0/1 flag written as a number or a boolean (`"iscrowd": 0`, `"difficult": true`).
private struct FlexibleFlag: Decodable {
    var value: Bool
    init(value: Bool) { self.value = value }
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { value = b; return }
        let n = try c.decode(Int.self)
        guard n == 0 || n == 1 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a flag must be 0 or 1, got \(n)")
        }
        value = n == 1
    }
}

private func box(_ values: [Double], _ name: String) throws -> COCOBox {
    guard values.count == 4 else {
        throw LossKitError.invalidShape(argument: name, shape: [values.count], reason: "a bbox is [x, y, width, height]")
    }
    return COCOBox(x: values[0], y: values[1], width: values[2], height: values[3])
}

private func readFile(_ url: URL) throws -> Data {
    do {
        return try Data(contentsOf: url)
    } catch {
        throw LossKitError.invalidParameter(argument: "file", value: url.path, reason: "cannot be read (\(error.localizedDescription))")
    }
}

/// JSONDecoder with its errors turned into a ``LossKitError`` that names the file and the JSON path.
private func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data, source: String) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
        let (path, reason): ([CodingKey], String)
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            (path, reason) = (context.codingPath, context.debugDescription)
        case let .keyNotFound(key, context):
            (path, reason) = (context.codingPath + [key], "missing field \"\(key.stringValue)\"")
        @unknown default:
            (path, reason) = ([], "\(error)")
        }
        let where_ = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        throw LossKitError.invalidParameter(argument: source, value: where_.isEmpty ? "(document)" : where_,
                                            reason: "not a valid COCO file: \(reason)")
    }
}
