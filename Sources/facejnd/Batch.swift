import Archive
import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Perception
import TensorCore

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode many files: a directory tree, globs or manifests, sharded over Kubernetes, Slurm or AWS Batch.",
        discussion: """
            Every INPUT is a directory (walked recursively; videos found by probing, not by name), a glob, a manifest \
            (.txt/.list: one path per line; .jsonl: {"path": ..., "options": {"tau": 0.1, ...}} per line) or a file. \
            Each output goes to OUTDIR/<relative path> with its report <output>.report.json next to it; names are \
            made safe so nothing lands outside OUTDIR (docs/archive.md). A file is skipped when its output and report \
            exist and the report records the same input fingerprint (size, modification time, hash of the first and \
            last MiB) and the same settings; otherwise it is encoded again. Outputs are written under a temporary \
            name and renamed, so a killed run leaves no partial file and its rerun continues where it stopped. \
            A file that fails is recorded in <output>.failed.json and the batch goes on.

            Sharding: --shard i/n, or from the environment: JOB_COMPLETION_INDEX (Kubernetes Indexed Job) with \
            --shards n or FACEJND_SHARDS; SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; AWS_BATCH_JOB_ARRAY_INDEX \
            and AWS_BATCH_JOB_ARRAY_SIZE. Files are assigned by a stable hash of their relative path.

            Exit status: 0 every file of the shard done; 3 some files failed for good (bad input), the rest done; \
            75 a failure worth retrying (no space, I/O error, interrupted by a signal); 64 invalid options.
            """)

    @Argument(help: "Directories, globs, manifests or files.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output directory (created if missing).")
    var output: String

    @Option(help: "This process's shard, i/n (0-based).")
    var shard: String?

    @Option(help: "Number of shards, with JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX.")
    var shards: Int?

    @Flag(help: "One JSON line per file on stdout.")
    var json = false

    @Flag(help: "Only list the files of this shard (input, then output), encode nothing.")
    var list = false

    @OptionGroup var encodeOptions: EncodeOptionsGroup

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one input") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let shard { _ = try Shard(parsing: shard) }
    }

    static let permanentFailure: Int32 = 3

    func run() throws {
        var worst: Int32 = 0
        try runReportingErrors {
            let shard = try Shard.resolve(option: shard, shards: shards, environment: ProcessInfo.processInfo.environment)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let found = try BatchInputs(inputs, outputDirectory: output)
            if list {
                for item in found.items where shard.owns(item.relative) { print("\(item.input)\t\(output)/\(item.relative)") }
                for r in found.rejected { print("\(r.input)\trejected: \(r.reason)") }
                return
            }
            var options = try encodeOptions.options()
            options.threads = CPUQuota.cores()
            // A chunked encode in a batch always keeps its finished chunks: a killed shard's rerun goes on from them.
            if (options.chunkSeconds ?? 0) > 0 { options.resume = true }
            BLAS.setThreads(options.threads)
            // The models load at the first file that needs encoding: a rerun that skips everything never reads them.
            let models = encodeOptions.modelOptions.directory
            var loaded: FaceAnalyzer? = nil
            let runner = BatchRunner(outputDirectory: output, shard: shard, options: options) { input, out, o in
                var o = o
                // A manifest that changes the codec or τ needs the predictor trained for them, or else the oracle.
                if let p = o.jndPredictor, (try? p.check(codec: o.codec, tau: o.tau)) == nil {
                    o.jndPredictor = JNDModel.shipped(codec: o.codec, tau: o.tau)
                }
                // A segment head is fitted for one codec and τ: with others the planner starts from the crop JNDs.
                if let h = o.segmentHead, (try? h.check(codec: o.codec, tau: o.tau)) == nil { o.segmentHead = nil }
                let analyzer = try loaded ?? FaceAnalyzer(models: models)
                loaded = analyzer
                return try EncodeJob(analyzer: analyzer, options: o).run(input, output: out, isCancelled: { Interrupt.requested })
            }
            let mine = found.items.filter { shard.owns($0.relative) }
            if !json {
                FileHandle.standardError.write(Data("facejnd batch: shard \(shard): \(mine.count) of \(found.items.count) files\n".utf8))
            }
            var rejected: [BatchFileStatus] = []
            for r in found.rejected where shard.owns(OutputMapping.relative(r.input) ?? r.input) {
                rejected.append(BatchFileStatus(input: r.input, output: "", outcome: .failed, error: r.reason, seconds: 0))
            }
            var done = 0
            let results =
                rejected
                + runner.run(found.items, isCancelled: { Interrupt.requested }) { s in
                    done += 1
                    report(s, done: done, of: mine.count)
                }
            for s in rejected { report(s, done: 0, of: mine.count) }
            if results.contains(where: { $0.outcome == .retryable }) || Interrupt.requested {
                worst = ExitStatus.retryable
            } else if results.contains(where: { $0.outcome == .failed }) {
                worst = Self.permanentFailure
            }
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    private func report(_ s: BatchFileStatus, done: Int, of total: Int) {
        if json {
            if let line = try? JSONOutput.string(s) { print(line) }
            return
        }
        let what = s.outcome == .encoded || s.outcome == .skipped ? s.outcome.rawValue : "\(s.outcome.rawValue): \(s.error ?? "")"
        print("[\(done)/\(total)] \(s.input): \(what)")
    }
}

struct BatchReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch-report",
        abstract: "Totals of a batch: files, hours of video, bytes, savings, faces within tau, failures, throughput.",
        discussion: """
            Reads every per-file report (<output>.report.json) and failure record (<output>.failed.json) under \
            OUTDIR. Throughput is video hours per core hour: each file's encode time times the threads it used.
            """)

    @Argument(help: "A batch's output directory.")
    var directory: String

    @Option(help: "Write a self-contained HTML page here.")
    var html: String?

    @Flag(help: "JSON on stdout.")
    var json = false

    func run() throws {
        try runReportingErrors {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(directory) is not a directory")
            }
            let r = try BatchReport(directory: directory)
            if let html { try AtomicFile.write(Data(r.html().utf8), to: html) }
            if json { return print(try JSONOutput.string(r)) }
            print(
                String(
                    format:
                        "%d files encoded, %d failed; %.4f h of video; %lld -> %d bytes (%@ saved); %d/%d face-frames within tau; %@ video h per core h",
                    r.files, r.failed, r.videoHours, r.bytesIn, r.bytesOut, r.savingsPercent.map { String(format: "%.1f%%", $0) } ?? "-",
                    r.withinTau, r.faces, r.videoHoursPerCoreHour.map { String(format: "%.3f", $0) } ?? "-"))
            for f in r.failures { print("failed: \(f.input): \(f.error)") }
        }
    }
}
