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
        var r = COCOJSONReader(Array(jsonData), source: source)
        var images: [Int]?, categories: [Category]?, annotations: [Annotation]?
        try r.object { r, key in
            switch key {
            case "images":
                var ids: [Int] = []
                try r.array { r, _ in
                    var id: Int?
                    try r.object { r, key in if key == "id" { id = try r.integer() } else { try r.skip() } }
                    guard let id else { throw r.missing("id") }
                    ids.append(id)
                }
                images = ids
            case "categories":
                var list: [Category] = []
                try r.array { r, _ in
                    var id: Int?, name: String?
                    try r.object { r, key in
                        switch key {
                        case "id": id = try r.integer()
                        case "name": name = try r.string()
                        default: try r.skip()
                        }
                    }
                    guard let id else { throw r.missing("id") }
                    list.append(Category(id: id, name: name ?? "\(id)"))
                }
                categories = list
            case "annotations":
                var list: [Annotation] = []
                try r.array { r, index in
                    var id: Int?, image: Int?, category: Int?, bbox: [Double]?, area: Double?
                    var crowd = false, difficult = false
                    try r.object { r, key in
                        switch key {
                        case "id": id = try r.integer()
                        case "image_id": image = try r.integer()
                        case "category_id": category = try r.integer()
                        case "bbox": bbox = try r.numbers()
                        case "area": area = try r.number()
                        case "iscrowd": crowd = try r.flag()
                        case "difficult": difficult = try r.flag()
                        default: try r.skip()
                        }
                    }
                    guard let id else { throw r.missing("id") }
                    guard let image else { throw r.missing("image_id") }
                    guard let category else { throw r.missing("category_id") }
                    guard let bbox else { throw r.missing("bbox") }
                    guard let area else { throw r.missing("area") }
                    list.append(Annotation(id: id, imageId: image, categoryId: category,
                                           bbox: try box(bbox, "\(source): annotations[\(index)].bbox"), area: area,
                                           isCrowd: crowd, isDifficult: difficult))
                }
                annotations = list
            default:
                try r.skip()
            }
        }
        try r.end()
        guard let images else { throw r.missing("images") }
        guard let categories else { throw r.missing("categories") }
        guard let annotations else { throw r.missing("annotations") }
        imageIds = images
        self.categories = categories
        self.annotations = annotations
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
        var r = COCOJSONReader(Array(jsonData), source: source)
        var list: [Detection] = []
        try r.array { r, index in
            var image: Int?, category: Int?, bbox: [Double]?, score: Double?
            try r.object { r, key in
                switch key {
                case "image_id": image = try r.integer()
                case "category_id": category = try r.integer()
                case "bbox": bbox = try r.numbers()
                case "score": score = try r.number()
                default: try r.skip()
                }
            }
            guard let image else { throw r.missing("image_id") }
            guard let category else { throw r.missing("category_id") }
            guard let bbox else { throw r.missing("bbox") }
            guard let score else { throw r.missing("score") }
            list.append(Detection(imageId: image, categoryId: category, bbox: try box(bbox, "\(source): [\(index)].bbox"), score: score))
        }
        try r.end()
        detections = list
    }

    /// Reads and parses a COCO results file.
    public init(contentsOf url: URL) throws {
        try self.init(jsonData: try readFile(url), source: url.path)
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
