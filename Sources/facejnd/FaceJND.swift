import ArgumentParser
import CompressionPipeline
import Foundation
import MediaIO

@main
struct FaceJND: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "facejnd",
        abstract: "Re-encode video so that faces stay recognisable to face recognition at the fewest bits.",
        discussion: """
            Exit status: 0 done; 1 failed (bad input or model files; the message says which); 64 invalid options; 75 a write \
            failed in a way worth retrying elsewhere or later (no space left, I/O error, file-size limit); 130 \
            interrupted (SIGINT, SIGTERM or SIGHUP). A failed or interrupted command leaves no output file behind.
            """,
        version: "0.1.0",
        subcommands: [
            Encode.self, Compare.self, Sweep.self, Quality.self, QualityTrain.self, Transcode.self, Probe.self, Faces.self, Verify.self, JND.self,
            JNDDatasetCommand.self, DetectorStudyCommand.self, Batch.self, BatchReportCommand.self,
        ]
    )
}

/// Exit statuses besides 0 (done) and 1 (failed: bad input or options).
enum ExitStatus {
    /// Interrupted by a signal; nothing written.
    static let interrupted: Int32 = 130
    /// A failure worth retrying elsewhere or later: out of space, an I/O error, a file-size limit (sysexits' EX_TEMPFAIL).
    static let retryable: Int32 = 75
}

/// Runs `body`, turning every error into one line on stderr and a non-zero exit (1, or `ExitStatus.retryable`).
func runReportingErrors(_ body: () throws -> Void) throws {
    Interrupt.install()
    FFmpegLog.setVerbose(ProcessInfo.processInfo.environment["FACEJND_VERBOSE"] != nil)
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        Progress.clearLine()
        if Interrupt.requested {
            FileHandle.standardError.write(Data("facejnd: interrupted; no output written\n".utf8))
            throw ExitCode(ExitStatus.interrupted)
        }
        FileHandle.standardError.write(Data("facejnd: error: \(error)\n".utf8))
        // 75 (EX_TEMPFAIL): the output's disk failed, not the input; a batch scheduler may retry elsewhere.
        if let m = error as? MediaError, m.isRetryable { throw ExitCode(ExitStatus.retryable) }
        throw ExitCode(1)
    }
}
