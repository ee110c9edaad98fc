import Foundation
import Synchronization

/// Every temporary and scratch file facejnd has open, so that a second interrupt (or SIGTERM after SIGINT) can
/// remove them before the process exits at once. Registration runs under a lock; `unlinkAll` is called from a
/// signal handler and only reads the slots and calls `unlink`, which is async-signal-safe.
public enum TemporaryFiles {
    private static let capacity = 256
    /// strdup'd paths; nil slots are free.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        p.initialize(repeating: nil, count: capacity)
        return p
    }()
    private static let lock = Mutex<Void>(())

    /// Remembers `path` until `unregister` (a full table only means that file is not removed on a second signal).
    public static func register(_ path: String) {
        lock.withLock { _ in
            for i in 0..<capacity where slots[i] == nil {
                slots[i] = strdup(path)
                return
            }
        }
    }

    public static func unregister(_ path: String) {
        lock.withLock { _ in
            for i in 0..<capacity {
                guard let p = slots[i], strcmp(p, path) == 0 else { continue }
                slots[i] = nil
                free(p)
                return
            }
        }
    }

    /// Unlinks every registered file. Async-signal-safe: no locks, no allocation.
    public static func unlinkAll() {
        for i in 0..<capacity {
            if let p = slots[i] { unlink(p) }
        }
    }
}
