import CompressionPipeline
import FaceAnalysis
import RateControl

/// Per-file options of a JSON-lines manifest, applied over the batch's own: `{"path": "cam3/day1.mp4", "options":
/// {"tau": 0.1, "background_qp": 38}}`. The keys are the `encode` options' names in snake case.
public enum BatchOverrides {
    public static let keys = [
        "background_qp", "codec", "detect_every", "detector", "floor_qp", "margin", "match_crf", "min_face", "preset", "tau", "unrecognizable",
    ]

    public struct Invalid: Error, CustomStringConvertible {
        public var key: String
        public var value: String
        public var description: String {
            BatchOverrides.keys.contains(key)
                ? "manifest option \(key) cannot be '\(value)'"
                : "unknown manifest option \(key) (known: \(BatchOverrides.keys.joined(separator: ", ")))"
        }
    }

    public static func apply(_ options: [String: String], to base: EncodeOptions) throws -> EncodeOptions {
        var o = base
        for (key, value) in options.sorted(by: { $0.key < $1.key }) {
            let bad = Invalid(key: key, value: value)
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let v = Int(value), range.contains(v) else { throw bad }
                return v
            }
            func number(_ valid: (Double) -> Bool) throws -> Double {
                guard let v = Double(value), valid(v) else { throw bad }
                return v
            }
            switch key {
            case "background_qp": o.backgroundQP = try int(0...51)
            case "codec":
                guard value == "libx264" || value == "libx265" else { throw bad }
                o.codec = value
            case "detect_every": o.detectEvery = try int(1...10_000)
            case "detector":
                guard let kind = DetectorSettings.Kind(rawValue: value) else { throw bad }
                o.detection.kind = kind
            case "floor_qp": o.floorQP = try int(0...51)
            case "margin": o.margin = try int(0...51)
            case "match_crf": o.matchCRF = try number { (0...51).contains($0) }
            case "min_face": o.detection.minFace = try number { (8...1000).contains($0) }
            case "preset":
                guard !value.isEmpty, value.allSatisfy({ $0.isLetter }) else { throw bad }
                o.preset = value
            case "tau": o.tau = try number { $0 > 0 }
            case "unrecognizable":
                guard let p = UnrecognizablePolicy(rawValue: value) else { throw bad }
                o.unrecognizable = p
            default: throw bad
            }
        }
        return o
    }
}
