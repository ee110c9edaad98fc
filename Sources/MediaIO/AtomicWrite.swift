import Foundation

/// Writes small files (pictures, reports) whole or not at all: a temporary file in the same directory, written with
/// `write(2)`, then renamed. Unlike Foundation's atomic write, a failure keeps its errno, so a full disk, an I/O
/// error or a file-size limit is reported as such (`MediaError.writeFailed`, retryable) and the temporary is gone.
public enum AtomicWrite {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).facejnd-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, errno) }
        TemporaryFiles.register(tmp)
        defer { TemporaryFiles.unregister(tmp) }
        var code: Int32 = 0
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    code = errno
                    return
                }
                done += n
            }
        }
        if close(fd) != 0 && code == 0 { code = errno }
        if code == 0 && rename(tmp, path) != 0 { code = errno }
        if code != 0 {
            unlink(tmp)
            throw failure(path, code)
        }
    }

    static func failure(_ path: String, _ code: Int32) -> MediaError {
        isTransientWriteError(code) ? .writeFailed(path: path, errno: code) : .outputNotWritable(path: path, reason: String(cString: strerror(code)))
    }
}
