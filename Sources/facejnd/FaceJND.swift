import ArgumentParser
import CompressionPipeline
import Foundation
import MediaIO

@main
struct FaceJND: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "facejnd",
        abstract: "Re-encode video so that faces stay recognisable to face recognition at the fewest bits.",
        version: "0.1.0",
        subcommands: [
            Encode.self, Compare.self, Sweep.self, Quality.self, QualityTrain.self, Transcode.self, Probe.self, Faces.self, Verify.self, JND.self,
            JNDDatasetCommand.self,
        ]
    )
}

/// Runs `body`, turning every error into one line on stderr and a non-zero exit.
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
            throw ExitCode(130)
        }
        FileHandle.standardError.write(Data("facejnd: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
