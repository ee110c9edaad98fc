import Foundation
import Synchronization

/// A one-line progress bar with ETA on stderr, drawn only when stderr is a terminal. Safe to update from
/// several threads.
final class Progress: Sendable {
    private let label: String
    private let start = Date()
    private let lastDraw = Mutex<Date>(.distantPast)
    private let enabled = isatty(2) != 0

    init(_ label: String) { self.label = label }

    func update(done: Int, total: Int?) {
        guard enabled else { return }
        let now = Date()
        let due = lastDraw.withLock { last in
            guard now.timeIntervalSince(last) > 0.1 else { return false }
            last = now
            return true
        }
        guard due else { return }
        let elapsed = now.timeIntervalSince(start)
        var line = "\(label) \(done)"
        if let total, total > 0 {
            let f = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(f * Double(width))
            let eta = f > 0 ? elapsed / f - elapsed : 0
            line =
                "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) ETA \(Int(eta.rounded()))s"
        } else {
            line += String(format: " frames, %.1f fps", Double(done) / max(elapsed, 1e-3))
        }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }

    func finish() { Progress.clearLine() }

    static func clearLine() {
        if isatty(2) != 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
