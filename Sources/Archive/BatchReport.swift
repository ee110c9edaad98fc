import CompressionPipeline
import Foundation

/// `facejnd batch-report`: the totals of every per-file report and failure record under a batch's output directory.
public struct BatchReport: Sendable, Codable {
    public struct File: Sendable, Codable {
        public var input: String
        public var output: String
        public var videoSeconds: Double
        public var bytesIn: Int64?
        public var bytesOut: Int
        public var faces: Int
        public var withinTau: Int
        public var encodeSeconds: Double
        public var threads: Int?

        enum CodingKeys: String, CodingKey {
            case input, output, faces, threads
            case videoSeconds = "video_seconds", bytesIn = "bytes_in", bytesOut = "bytes_out", withinTau = "within_tau"
            case encodeSeconds = "encode_seconds"
        }
    }

    public struct Failure: Sendable, Codable {
        public var input: String
        public var record: String
        public var error: String
    }

    public var schema = "facejnd-batch-report/1"
    public var outputDirectory: String
    public var files: Int
    public var failed: Int
    public var videoHours: Double
    /// Input bytes of the files whose report records them (batch reports do).
    public var bytesIn: Int64
    public var bytesOut: Int
    /// 100 · (1 − bytes out / bytes in) over the files with both.
    public var savingsPercent: Double?
    public var faces: Int
    public var withinTau: Int
    public var fractionWithinTau: Double
    /// Sum of the files' encode times.
    public var encodeHours: Double
    /// Video hours per wall-clock hour per core (each file's encode time times its threads).
    public var videoHoursPerCoreHour: Double?
    public var failures: [Failure]
    public var perFile: [File]

    enum CodingKeys: String, CodingKey {
        case schema, files, failed, faces, failures
        case outputDirectory = "output_directory", videoHours = "video_hours", bytesIn = "bytes_in", bytesOut = "bytes_out"
        case savingsPercent = "savings_percent", withinTau = "within_tau", fractionWithinTau = "fraction_within_tau"
        case encodeHours = "encode_hours", videoHoursPerCoreHour = "video_hours_per_core_hour", perFile = "per_file"
    }

    /// The part of an encode report the totals need.
    private struct Partial: Decodable {
        struct Fidelity: Decodable {
            var faces: Int
            var within_tau: Int
        }
        struct Timing: Decodable { var total: Double }
        var input: String
        var output: String
        var frame_count: Int
        var fps: Double
        var output_bytes: Int
        var fidelity: Fidelity
        var timing: Timing
        var source: EncodeReport.Source?
    }

    /// Reads every `*.report.json` and `*.failed.json` under `directory` (a failure record whose file has since been
    /// encoded is not counted: the encode removes it, and a report wins over a stale record).
    public init(directory: String) throws {
        outputDirectory = directory
        guard let walker = FileManager.default.enumerator(atPath: directory) else { throw BatchError.inputNotFound(directory) }
        var reports: [File] = [], failures: [Failure] = [], done = Set<String>()
        var failureRecords: [(String, BatchFailure)] = []
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            if relative.hasSuffix(".report.json") {
                guard let data = FileManager.default.contents(atPath: path), let r = try? JSONDecoder().decode(Partial.self, from: data) else {
                    continue
                }
                done.insert(String(relative.dropLast(".report.json".count)))
                reports.append(
                    File(
                        input: r.input, output: r.output, videoSeconds: r.fps > 0 ? Double(r.frame_count) / r.fps : 0,
                        bytesIn: r.source?.fingerprint.size, bytesOut: r.output_bytes, faces: r.fidelity.faces, withinTau: r.fidelity.within_tau,
                        encodeSeconds: r.timing.total, threads: r.source?.threads))
            } else if relative.hasSuffix(".failed.json") {
                guard let data = FileManager.default.contents(atPath: path), let f = try? JSONDecoder().decode(BatchFailure.self, from: data) else {
                    continue
                }
                failureRecords.append((String(relative.dropLast(".failed.json".count)), f))
            }
        }
        for (relative, f) in failureRecords where !done.contains(relative) {
            failures.append(Failure(input: f.input, record: relative + ".failed.json", error: f.error))
        }
        perFile = reports.sorted { $0.output < $1.output }
        self.failures = failures.sorted { $0.record < $1.record }
        files = perFile.count
        failed = self.failures.count
        videoHours = perFile.reduce(0) { $0 + $1.videoSeconds } / 3600
        let known = perFile.filter { $0.bytesIn != nil }
        bytesIn = known.reduce(0) { $0 + $1.bytesIn! }
        bytesOut = perFile.reduce(0) { $0 + $1.bytesOut }
        let knownOut = known.reduce(0) { $0 + $1.bytesOut }
        savingsPercent = bytesIn > 0 ? 100 * (1 - Double(knownOut) / Double(bytesIn)) : nil
        faces = perFile.reduce(0) { $0 + $1.faces }
        withinTau = perFile.reduce(0) { $0 + $1.withinTau }
        fractionWithinTau = faces == 0 ? 1 : Double(withinTau) / Double(faces)
        encodeHours = perFile.reduce(0) { $0 + $1.encodeSeconds } / 3600
        let coreHours = perFile.reduce(0) { $0 + $1.encodeSeconds * Double($1.threads ?? 1) } / 3600
        videoHoursPerCoreHour = coreHours > 0 ? videoHours / coreHours : nil
    }

    /// A self-contained HTML page: totals, failures, per-file table and a size chart.
    public func html() -> String {
        func f(_ v: Double, _ d: Int) -> String { HTMLReport.format(v, d) }
        var b = "<h1>facejnd batch report</h1>\n<p>\(HTMLReport.escape(outputDirectory))</p>\n<table>\n"
        let rows: [(String, String)] = [
            ("files encoded", "\(files)"), ("files failed", "\(failed)"), ("hours of video", f(videoHours, 3)),
            ("bytes in", "\(bytesIn)"), ("bytes out", "\(bytesOut)"), ("savings", savingsPercent.map { f($0, 1) + "%" } ?? "–"),
            ("face-frames within τ", "\(withinTau) / \(faces) (\(f(100 * fractionWithinTau, 2))%)"),
            ("encode hours", f(encodeHours, 3)), ("video hours per core hour", videoHoursPerCoreHour.map { f($0, 3) } ?? "–"),
        ]
        for (k, v) in rows { b += "<tr><th>\(k)</th><td>\(HTMLReport.escape(v))</td></tr>\n" }
        b += "</table>\n"
        if !failures.isEmpty {
            b += "<h2>Failures</h2>\n<table><tr><th>input</th><th>error</th></tr>\n"
            for x in failures { b += "<tr><td>\(HTMLReport.escape(x.input))</td><td>\(HTMLReport.escape(x.error))</td></tr>\n" }
            b += "</table>\n"
        }
        let points = perFile.compactMap { p in p.bytesIn.map { (x: Double($0) / 1e6, y: Double(p.bytesOut) / 1e6) } }.sorted { $0.x < $1.x }
        b += HTMLReport.chart(
            id: "sizes", title: "Output size against input size, per file", xLabel: "input MB", yLabel: "output MB",
            series: [HTMLReport.Series(name: "files", color: "#1f77b4", points: points, markers: true)])
        b += "<h2>Files</h2>\n<table><tr><th>output</th><th>video s</th><th>bytes in</th><th>bytes out</th><th>within τ</th><th>encode s</th></tr>\n"
        for p in perFile {
            b += "<tr><td>\(HTMLReport.escape(p.output))</td><td>\(f(p.videoSeconds, 1))</td><td>\(p.bytesIn.map(String.init) ?? "–")</td>"
            b += "<td>\(p.bytesOut)</td><td>\(p.withinTau) / \(p.faces)</td><td>\(f(p.encodeSeconds, 1))</td></tr>\n"
        }
        return HTMLReport.page(title: "facejnd batch report", body: b + "</table>\n")
    }
}
