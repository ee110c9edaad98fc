import Foundation
import MediaIO

/// Small files (reports) written whole or not at all.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try AtomicWrite.write(data, to: path)
    }

    /// The errno behind a Foundation file error, when there is one.
    static func posixCode(_ error: any Error) -> Int32? {
        let e = error as NSError
        if e.domain == NSPOSIXErrorDomain { return Int32(e.code) }
        if let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain { return Int32(underlying.code) }
        if e.domain == NSCocoaErrorDomain, e.code == NSFileWriteOutOfSpaceError { return ENOSPC }
        return nil
    }

    /// Runs `body`, which writes a scratch file for `output`; a failed write is reported against `output`, the file the
    /// user named.
    public static func namingOutput<T>(_ output: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch MediaError.writeFailed(_, let code) {
            throw MediaError.writeFailed(path: output, errno: code)
        }
    }

    /// A scratch file next to `path` with the same extension (so the muxer picks the same container), registered
    /// with `TemporaryFiles` so that a second interrupt removes it too. Remove it with `discard` or finish it with
    /// `moveIntoPlace`.
    public static func scratchPath(near path: String, tag: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.isEmpty ? "mp4" : url.pathExtension
        let scratch = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.deletingPathExtension().lastPathComponent).facejnd-\(tag)-\(getpid()).\(ext)"
        ).path
        TemporaryFiles.register(scratch)
        return scratch
    }

    /// Throws unless `path`'s directory exists and is writable and `path` is not a directory.
    public static func checkWritable(_ path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw PipelineError.outputNotWritable(path: path, reason: "directory \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw PipelineError.outputNotWritable(path: path, reason: "directory \(dir) is not writable")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw PipelineError.outputNotWritable(path: path, reason: "it is a directory")
        }
    }

    /// Removes a scratch file (if it is there) and forgets it.
    public static func discard(_ scratch: String) {
        unlink(scratch)
        TemporaryFiles.unregister(scratch)
    }

    /// Renames a finished scratch file onto its final name (atomic within one file system).
    public static func moveIntoPlace(_ from: String, _ to: String) throws {
        defer { TemporaryFiles.unregister(from) }
        if rename(from, to) != 0 {
            throw PipelineError.outputNotWritable(path: to, reason: String(cString: strerror(errno)))
        }
    }
}
