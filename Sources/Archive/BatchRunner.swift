import CompressionPipeline
import Foundation
import MediaIO
import Synchronization

/// What happened to one file of a batch: a JSON line of `batch --json`.
public struct BatchFileStatus: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        /// Encoded now.
        case encoded
        /// Output and report already there, for the same input and settings.
        case skipped
        /// Failed for good: the input is bad (corrupt, truncated, not a video, bad manifest options).
        case failed
        /// Failed in a way worth retrying: no space, an I/O error, interrupted.
        case retryable
    }

    public var input: String
    public var output: String
    public var outcome: Outcome
    public var error: String?
    public var seconds: Double
    public var inputBytes: Int64?
    public var outputBytes: Int?

    public init(
        input: String, output: String, outcome: Outcome, error: String? = nil, seconds: Double, inputBytes: Int64? = nil, outputBytes: Int? = nil
    ) {
        self.input = input
        self.output = output
        self.outcome = outcome
        self.error = error
        self.seconds = seconds
        self.inputBytes = inputBytes
        self.outputBytes = outputBytes
    }

    enum CodingKeys: String, CodingKey {
        case input, output, outcome, error, seconds
        case inputBytes = "input_bytes"
        case outputBytes = "output_bytes"
    }
}

/// The record a failed file leaves next to where its output would be (`<output>.failed.json`), for `batch-report`.
public struct BatchFailure: Sendable, Codable, Equatable {
    public var schema = "facejnd-batch-failure/1"
    public var input: String
    public var error: String
    public var retryable: Bool
    public var fingerprint: InputFingerprint?
}

/// Runs a shard of a batch, file by file: skips what is done, encodes the rest, isolates failures.
public struct BatchRunner {
    public var outputDirectory: String
    public var shard: Shard
    public var options: EncodeOptions
    /// The encode of one file (the job's `run`; tests give a fake).
    public var encode: (_ input: String, _ output: String, _ options: EncodeOptions) throws -> EncodeReport

    public init(
        outputDirectory: String, shard: Shard, options: EncodeOptions,
        encode: @escaping (_ input: String, _ output: String, _ options: EncodeOptions) throws -> EncodeReport
    ) {
        self.outputDirectory = outputDirectory
        self.shard = shard
        self.options = options
        self.encode = encode
    }

    /// The output path of an item (always under the output directory).
    public func output(for item: BatchItem) -> String { Self.output(for: item, in: outputDirectory) }

    static func output(for item: BatchItem, in directory: String) -> String { directory + "/" + item.relative }

    /// Whether `item` is done: its output and report exist and the report records this input and these settings.
    public func isDone(_ item: BatchItem, fingerprint: InputFingerprint, settingsHash: String) -> Bool {
        Self.isDone(output: output(for: item), fingerprint: fingerprint, settingsHash: settingsHash)
    }

    static func isDone(output out: String, fingerprint: InputFingerprint, settingsHash: String) -> Bool {
        guard FileManager.default.fileExists(atPath: out),
            let data = FileManager.default.contents(atPath: OutputMapping.reportPath(for: out)),
            let report = try? JSONDecoder().decode(ReportSource.self, from: data)
        else { return false }
        return report.source?.fingerprint == fingerprint && report.source?.settingsHash == settingsHash
    }

    /// Only the part of a report the skip needs (a report from an older version simply lacks it).
    private struct ReportSource: Decodable { var source: EncodeReport.Source? }

    /// Runs every item this shard owns; `status` hears about each file as it finishes. Stops early (the remaining
    /// files untouched) when `isCancelled` turns true.
    public func run(_ items: [BatchItem], isCancelled: () -> Bool = { false }, status: (BatchFileStatus) -> Void) -> [BatchFileStatus] {
        var results: [BatchFileStatus] = []
        var scratch: [String: [String]] = [:]  // directory → its hidden facejnd scratch entries, listed once per run
        let owned = items.filter { shard.owns($0.relative) }
        // Which files are done, checked on every core first: a rerun of a finished batch is all fingerprints.
        let done = Mutex([Bool](repeating: false, count: owned.count))
        let (base, root) = (options, outputDirectory)
        DispatchQueue.concurrentPerform(iterations: owned.count) { i in
            let finished = (try? Self.skipCheck(owned[i], options: base, outputDirectory: root))?.done ?? false
            done.withLock { $0[i] = finished }
        }
        let isFinished = done.withLock { $0 }
        for (i, item) in owned.enumerated() {
            if isCancelled() { break }
            if isFinished[i] {
                let out = output(for: item)
                let r = BatchFileStatus(
                    input: item.input, output: out, outcome: .skipped, seconds: 0, inputBytes: Self.size(item.input).map(Int64.init),
                    outputBytes: Self.size(out))
                results.append(r)
                status(r)
                continue
            }
            let directory = URL(fileURLWithPath: output(for: item)).deletingLastPathComponent().path
            if scratch[directory] == nil {
                scratch[directory] = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
                    $0.hasPrefix(".") && $0.contains(".facejnd-")
                }
            }
            Self.removeLeftovers(of: output(for: item), among: scratch[directory]!)
            let r = process(item)
            results.append(r)
            status(r)
        }
        return results
    }

    /// The item's fingerprint, options and settings hash, and whether it is done.
    static func skipCheck(_ item: BatchItem, options: EncodeOptions, outputDirectory: String) throws
        -> (fingerprint: InputFingerprint, options: EncodeOptions, hash: String, done: Bool)
    {
        let f = try InputFingerprint(path: item.input)
        let o = try BatchOverrides.apply(item.options, to: options)
        let hash = try SettingsHash.of(EncodeReport.Settings(o))
        return (f, o, hash, isDone(output: output(for: item, in: outputDirectory), fingerprint: f, settingsHash: hash))
    }

    func process(_ item: BatchItem) -> BatchFileStatus {
        let start = Date()
        let out = output(for: item)
        var fingerprint: InputFingerprint? = nil
        do {
            let (f, o, hash, done) = try Self.skipCheck(item, options: options, outputDirectory: outputDirectory)
            fingerprint = f
            if done {
                return BatchFileStatus(
                    input: item.input, output: out, outcome: .skipped, seconds: Date().timeIntervalSince(start), inputBytes: f.size,
                    outputBytes: Self.size(out))
            }
            try Self.makeDirectory(for: out, inside: outputDirectory)
            // A file cut short (a camera that lost power) decodes only its first part; the container still says how
            // many frames it should have. Such a file is reported, not silently shortened.
            let declared = (try? Demuxer(path: item.input).bestVideoStream())?.frameCount
            var report = try encode(item.input, out, o)
            if let declared, Double(report.frameCount) < 0.98 * Double(declared) - 1 {
                try? FileManager.default.removeItem(atPath: out)
                throw BatchError.truncatedInput(path: item.input, decoded: report.frameCount, declared: declared)
            }
            report.source = EncodeReport.Source(fingerprint: f, settingsHash: hash, threads: o.threads)
            try AtomicWrite.write(Data((try JSONOutput.string(report, pretty: true) + "\n").utf8), to: OutputMapping.reportPath(for: out))
            try? FileManager.default.removeItem(atPath: OutputMapping.failurePath(for: out))
            return BatchFileStatus(
                input: item.input, output: out, outcome: .encoded, seconds: Date().timeIntervalSince(start), inputBytes: f.size,
                outputBytes: report.outputBytes)
        } catch {
            let retryable = Self.isRetryable(error)
            let message = "\(error)"
            if !retryable, (try? Self.makeDirectory(for: out, inside: outputDirectory)) != nil {
                let record = BatchFailure(input: item.input, error: message, retryable: false, fingerprint: fingerprint)
                try? AtomicWrite.write(Data((try JSONOutput.string(record, pretty: true) + "\n").utf8), to: OutputMapping.failurePath(for: out))
            }
            return BatchFileStatus(
                input: item.input, output: out, outcome: retryable ? .retryable : .failed, error: message,
                seconds: Date().timeIntervalSince(start), inputBytes: fingerprint?.size, outputBytes: nil)
        }
    }

    /// Scratch files a killed run left next to this output (`.<name>.facejnd-…`, `.<name>.report.json.facejnd-tmp…`):
    /// a process killed with SIGKILL cannot remove its own. A file belongs to one shard, so no live process owns them.
    static func removeLeftovers(of output: String, among entries: [String]) {
        let url = URL(fileURLWithPath: output)
        let directory = url.deletingLastPathComponent().path
        let stem = "." + url.deletingPathExtension().lastPathComponent + ".facejnd-"
        let name = "." + url.lastPathComponent + "."
        for e in entries where e.hasPrefix(stem) || (e.hasPrefix(name) && e.contains(".facejnd-tmp-")) {
            try? FileManager.default.removeItem(atPath: directory + "/" + e)
        }
    }

    /// Out of space, I/O errors and interruptions are worth a retry; everything else is the input's fault.
    static func isRetryable(_ error: Error) -> Bool {
        if let m = error as? MediaError { return m.isRetryable }
        return error is CancellationError
    }

    static func size(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil }

    /// Creates the output's directory and checks, after resolving symbolic links, that it is inside the output
    /// directory (a link planted in OUTDIR must not carry outputs elsewhere).
    static func makeDirectory(for output: String, inside root: String) throws {
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let real = directory.resolvingSymlinksInPath().path
        let realRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        guard real == realRoot || real.hasPrefix(realRoot + "/") else {
            throw MediaError.outputNotWritable(path: output, reason: "its directory leads outside the output directory \(root)")
        }
    }
}
