import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode with facejnd and with a reference encoder, measure both faces' fidelity, report the savings.",
        discussion: """
            --reference uniform (the default) is one QP for the whole picture: --reference-qp or --reference-crf, or \
            without either the largest uniform QP that keeps at least facejnd's fraction of faces within the \
            threshold (found by bisection), so the savings compare encodes that keep the same faces recognisable. \
            --reference face-roi is the strongest simple baseline: the face regions facejnd protected, all at one \
            constant face QP (--reference-qp, or the largest that keeps facejnd's fraction within the threshold, by \
            bisection), with facejnd's background. Both outputs are verified the same way (every followed face \
            re-embedded with its original landmarks); per track the report gives the worst-frame and worst-5% \
            distance. With --sweep, \
            uniform QPs --sweep-qp and facejnd at the thresholds --sweep-tau give two rate-fidelity curves and \
            their Bjontegaard delta rate (fidelity: -10 log10 of the mean descriptor distance).
            """)

    @Argument(help: "Input video.")
    var input: String

    @Option(help: "Reference encoder: uniform (one QP for the picture) or face-roi (facejnd's face regions at one constant QP).")
    var reference: ReferenceEncoder = .uniform

    @Option(help: "The reference's QP: the uniform QP, or face-roi's constant face QP.")
    var referenceQP: Int?

    @Option(help: "Reference CRF (uniform only).")
    var referenceCRF: Double?

    @Flag(help: "Also sweep both encoders and report the rate-fidelity curves and BD-rate.")
    var sweep = false

    @Option(help: "Uniform QPs of the sweep, A:B:STEP.")
    var sweepQP: String = "16:44:4"

    @Option(help: "facejnd thresholds of the sweep, comma-separated.")
    var sweepTau: String = "0.06,0.08,0.1,0.12,0.15,0.2"

    @Option(name: .shortAndLong, help: "Keep facejnd's output here.")
    var output: String?

    @Option(help: "Write a self-contained HTML report here.")
    var html: String?

    @Flag(help: "JSON on stdout.")
    var json = false

    @OptionGroup var encodeOptions: EncodeOptionsGroup

    func validate() throws {
        if referenceQP != nil && referenceCRF != nil { throw ValidationError("give at most one of --reference-qp and --reference-crf") }
        if let q = referenceQP, !(0...51).contains(q) { throw ValidationError("--reference-qp must be in 0...51") }
        if reference == .faceROI && referenceCRF != nil { throw ValidationError("--reference-crf needs --reference uniform") }
        _ = try QPSteps(sweepQP)
        _ = try taus()
    }

    func taus() throws -> [Double] {
        let v = sweepTau.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 != nil && $0! > 0 }) else {
            throw ValidationError("--sweep-tau takes positive numbers separated by commas")
        }
        return v.map { $0! }
    }

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: encodeOptions.modelOptions.directory)
            let job = EncodeJob(analyzer: analyzer, options: try encodeOptions.options())
            let bar = StagedProgress()
            let timeline = try job.analyse(input, progress: bar.update, isCancelled: { Interrupt.requested })
            let comparison = Comparison(job: job, timeline: timeline)
            let (ours, outcome) = try comparison.facejnd(input, output: output, isCancelled: { Interrupt.requested })
            bar.update(.reference, 0, nil)
            let reference: RatePoint
            let kind: String
            var evaluated: [RatePoint] = []
            if self.reference == .faceROI {
                let roi = try FaceROIReference(job: job, timeline: timeline, outcome: outcome)
                if let referenceQP {
                    (reference, kind) = (
                        try comparison.faceROI(input, reference: roi, faceQP: referenceQP, isCancelled: { Interrupt.requested }), "qp"
                    )
                } else {
                    let m = try comparison.matchedFaceROI(
                        input, reference: roi, target: ours.fidelity.fractionWithinTau, isCancelled: { Interrupt.requested })
                    (reference, kind) = (m.best, "matched")
                }
            } else if let referenceQP {
                (reference, kind) = (try comparison.uniform(input, qp: referenceQP, isCancelled: { Interrupt.requested }), "qp")
            } else if let referenceCRF {
                (reference, kind) = (try comparison.uniform(input, crf: referenceCRF, isCancelled: { Interrupt.requested }), "crf")
            } else {
                let m = try comparison.matchedReference(input, target: ours.fidelity.fractionWithinTau, isCancelled: { Interrupt.requested })
                (reference, kind, evaluated) = (m.best, "matched", m.evaluated)
            }
            var report = ComparisonReport(
                input: input, codec: job.options.codec, tau: job.options.tau, referenceEncoder: self.reference.rawValue, referenceKind: kind,
                reference: reference, facejnd: ours,
                savingsPercent: Comparison.savingsPercent(ours: ours, reference: reference))
            if sweep {
                report.sweep = try comparison.sweep(
                    input, qps: try QPSteps(sweepQP).values, taus: try taus(), evaluated: evaluated,
                    progress: { bar.update(.reference, $0, $1) }, isCancelled: { Interrupt.requested })
            }
            bar.finish()
            if let html { try AtomicFile.write(Data(ComparisonHTML.render(report).utf8), to: html) }
            if json {
                print(try JSONOutput.string(report))
            } else {
                for p in [report.reference, report.facejnd] {
                    print(
                        String(
                            format: "%@: %d bytes (video %d), %.1f kbit/s, %.2f%% of %d faces within tau, mean %.4f, max %.4f", p.label,
                            p.bytes, p.videoBytes ?? p.bytes, p.bitrateKbps, 100 * p.fidelity.fractionWithinTau, p.fidelity.faces,
                            p.fidelity.meanDistance, p.fidelity.maxDistance))
                    for t in p.tracks {
                        print(
                            String(
                                format: "  track %d: %d/%d within tau, mean %.4f, worst 5%% %.4f, worst %.4f", t.track, t.withinTau, t.faces,
                                t.meanDistance, t.worst5PercentDistance, t.worstDistance))
                    }
                }
                print(String(format: "savings (video stream): %.1f%%", report.savingsPercent))
                if let bd = report.sweep?.bdRatePercent { print(String(format: "BD-rate: %.1f%%", bd)) }
            }
        }
    }
}

/// `compare --reference`.
enum ReferenceEncoder: String, ExpressibleByArgument, CaseIterable {
    case uniform
    case faceROI = "face-roi"
}

/// A QP range written A:B:STEP.
struct QPSteps {
    var values: [Int]
    init(_ text: String) throws {
        let v = text.split(separator: ":").compactMap { Int($0) }
        guard v.count == 3, v[0] >= 0, v[1] <= 51, v[0] <= v[1], v[2] >= 1 else {
            throw ValidationError("QP steps take A:B:STEP within 0:51, got '\(text)'")
        }
        values = Array(stride(from: v[0], through: v[1], by: v[2]))
    }
}
