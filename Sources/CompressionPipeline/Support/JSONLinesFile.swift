import Foundation
import MediaIO

/// An append-only JSON-lines file that makes long jobs resumable: records already present are read back, a line
/// torn by an interruption is skipped (and ended, so the next record starts on a line of its own), new records are
/// appended one `write` per line.
public final class JSONLinesFile<Record: Codable>: @unchecked Sendable {
    /// `@unchecked Sendable`: `append` is the only mutation and callers serialise it (under their results lock).
    private let handle: FileHandle
    /// The records that were already in the file.
    public let existing: [Record]
    let path: String

    public init(path: String) throws {
        var records: [Record] = []
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                if let r = try? JSONDecoder().decode(Record.self, from: Data(line.utf8)) { records.append(r) }
            }
        } else if !FileManager.default.createFile(atPath: path, contents: nil) {
            throw PipelineError.outputNotWritable(path: path, reason: "cannot create the file")
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw PipelineError.outputNotWritable(path: path, reason: "cannot open the file for appending")
        }
        try h.seekToEnd()
        if let data = FileManager.default.contents(atPath: path), let last = data.last, last != 0x0A {
            try h.write(contentsOf: Data([0x0A]))
        }
        handle = h
        existing = records
        self.path = path
    }

    deinit { try? handle.close() }

    /// Appends one record as one line.
    public func append(_ record: Record) throws {
        var line = try JSONEncoder().encode(record)
        line.append(0x0A)
        // write(contentsOf:) throws on a full disk; FileHandle.write(_:) would trap.
        do { try handle.write(contentsOf: line) } catch {
            if let code = AtomicFile.posixCode(error), isTransientWriteError(code) { throw MediaError.writeFailed(path: path, errno: code) }
            throw PipelineError.outputNotWritable(path: path, reason: "\(error)")
        }
    }
}
