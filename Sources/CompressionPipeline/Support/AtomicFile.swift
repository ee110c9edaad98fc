import Foundation
import MediaIO

/// Small files (reports) written whole or not at all.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw PipelineError.outputNotWritable(path: path, reason: error.localizedDescription)
        }
    }

    /// A scratch file next to `path` with the same extension (so the muxer picks the same container).
    public static func scratchPath(near path: String, tag: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.isEmpty ? "mp4" : url.pathExtension
        return url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.deletingPathExtension().lastPathComponent).facejnd-\(tag)-\(getpid()).\(ext)"
        ).path
    }

    /// Renames a finished scratch file onto its final name (atomic within one file system).
    public static func moveIntoPlace(_ from: String, _ to: String) throws {
        if rename(from, to) != 0 {
            throw PipelineError.outputNotWritable(path: to, reason: String(cString: strerror(errno)))
        }
    }
}
