import Foundation

/// A per-frame QP plan: a base QP for every frame and any number of rectangles with their own QP.
///
/// JSON schema (version 1), documented in README.md:
/// ```json
/// { "version": 1,
///   "default_qp": 24,
///   "frames": [
///     { "from": 10, "to": 19, "qp": 38 },
///     { "frame": 42, "qp": 30, "regions": [ { "x": 64, "y": 48, "width": 128, "height": 160, "qp": 20 } ] } ] }
/// ```
/// Frame indices count decoded frames in presentation order from 0; `from`/`to` are inclusive. An entry gives
/// `qp` (optional; default `default_qp`) and `regions` (optional) for its frames; a later entry overrides an earlier
/// one for the frames they share. Where regions overlap, the first listed wins. QPs are in 0…51.
public struct QPPlan: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var from: Int
        public var to: Int
        public var qp: Int?
        public var regions: [RegionQP]

        public init(from: Int, to: Int, qp: Int? = nil, regions: [RegionQP] = []) {
            self.from = from
            self.to = to
            self.qp = qp
            self.regions = regions
        }

        enum CodingKeys: String, CodingKey { case from, to, frame, qp, regions }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let f = try c.decodeIfPresent(Int.self, forKey: .frame) {
                from = f
                to = f
            } else {
                guard let f = try c.decodeIfPresent(Int.self, forKey: .from) else {
                    throw DecodingError.keyNotFound(
                        CodingKeys.from, .init(codingPath: c.codingPath, debugDescription: "an entry needs \"frame\" or \"from\""))
                }
                from = f
                to = try c.decodeIfPresent(Int.self, forKey: .to) ?? f
            }
            qp = try c.decodeIfPresent(Int.self, forKey: .qp)
            regions = try c.decodeIfPresent([RegionQP].self, forKey: .regions) ?? []
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            if from == to {
                try c.encode(from, forKey: .frame)
            } else {
                try c.encode(from, forKey: .from)
                try c.encode(to, forKey: .to)
            }
            try c.encodeIfPresent(qp, forKey: .qp)
            if !regions.isEmpty { try c.encode(regions, forKey: .regions) }
        }
    }

    public var version: Int
    public var defaultQP: Int
    public var frames: [Entry]

    enum CodingKeys: String, CodingKey {
        case version
        case defaultQP = "default_qp"
        case frames
    }

    public init(defaultQP: Int, frames: [Entry] = []) {
        version = 1
        self.defaultQP = defaultQP
        self.frames = frames
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        defaultQP = try c.decode(Int.self, forKey: .defaultQP)
        frames = try c.decodeIfPresent([Entry].self, forKey: .frames) ?? []
    }

    /// Parses and validates a plan.
    /// - Throws: `QPPlanError` naming what is wrong.
    public static func parse(_ data: Data) throws -> QPPlan {
        let plan: QPPlan
        do { plan = try JSONDecoder().decode(QPPlan.self, from: data) } catch let e as DecodingError {
            throw QPPlanError.malformed(QPPlan.describe(e))
        } catch {
            throw QPPlanError.malformed(String(describing: error))
        }
        try plan.validate()
        return plan
    }

    /// Loads a plan file.
    public static func load(path: String) throws -> QPPlan {
        guard let data = FileManager.default.contents(atPath: path) else { throw QPPlanError.unreadable(path) }
        return try parse(data)
    }

    /// Checks ranges: version 1, QPs in 0…51, frame ranges non-negative and ordered, regions non-empty.
    public func validate() throws {
        guard version == 1 else { throw QPPlanError.invalid("unsupported plan version \(version) (expected 1)") }
        guard (0...51).contains(defaultQP) else { throw QPPlanError.invalid("default_qp \(defaultQP) is outside 0…51") }
        for (i, e) in frames.enumerated() {
            guard e.from >= 0, e.to >= e.from else { throw QPPlanError.invalid("frames[\(i)]: frame range \(e.from)…\(e.to) is empty or negative") }
            if let q = e.qp, !(0...51).contains(q) { throw QPPlanError.invalid("frames[\(i)]: qp \(q) is outside 0…51") }
            for (j, r) in e.regions.enumerated() {
                guard r.width > 0, r.height > 0, r.x >= 0, r.y >= 0 else {
                    throw QPPlanError.invalid("frames[\(i)].regions[\(j)]: needs x, y ≥ 0 and width, height > 0")
                }
                guard (0...51).contains(r.qp) else { throw QPPlanError.invalid("frames[\(i)].regions[\(j)]: qp \(r.qp) is outside 0…51") }
            }
        }
    }

    /// The highest frame index any entry names, or nil for a plan with no entries.
    public var lastFrameNamed: Int? { frames.map(\.to).max() }

    /// The QP and regions of frame `index`: the last entry covering it wins.
    public func frame(_ index: Int) -> FrameQP {
        for e in frames.reversed() where e.from <= index && index <= e.to {
            return FrameQP(qp: e.qp ?? defaultQP, regions: e.regions)
        }
        return FrameQP(qp: defaultQP)
    }

    /// Checks the plan against the real frame count.
    public func check(frameCount: Int) throws {
        if let last = lastFrameNamed, last >= frameCount {
            throw QPPlanError.framesPastEnd(lastNamed: last, frameCount: frameCount)
        }
    }

    private static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, let ctx): return "missing \"\(k.stringValue)\" at \(path(ctx.codingPath))"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "\(ctx.debugDescription) at \(path(ctx.codingPath))"
        case .dataCorrupted(let ctx): return ctx.underlyingError.map { "not valid JSON: \($0.localizedDescription)" } ?? ctx.debugDescription
        @unknown default: return String(describing: e)
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

/// What is wrong with a plan.
public enum QPPlanError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(String)
    case malformed(String)
    case invalid(String)
    case framesPastEnd(lastNamed: Int, frameCount: Int)

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read QP plan \(p)"
        case .malformed(let m): return "QP plan is malformed: \(m)"
        case .invalid(let m): return "QP plan is invalid: \(m)"
        case .framesPastEnd(let last, let count):
            return "QP plan names frame \(last) but the video has only \(count) frames (0…\(count - 1))"
        }
    }
}
