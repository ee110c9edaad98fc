import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// Runs independent items on `threads` workers, each with its own `Workspace`; stops at the first error and
/// rethrows it. With more than one worker, OpenBLAS is pinned to one thread while they run (one level of
/// parallelism), and given its thread count back afterwards.
public enum ParallelWork {
    /// Sections running on several workers now (a streamed encode runs two at once, on two threads), and the
    /// OpenBLAS thread count to give back when the last ends. Saving and restoring per section would let one section
    /// restore the count in the middle of another. (The numbers do not depend on the count: descriptors and
    /// detections are bit-identical with OpenBLAS on one thread or two, docs/video-jnd.md.)
    private static let pinned = Mutex<(sections: Int, threads: Int)>((0, 0))

    public static func forEach(
        count: Int, threads: Int, progress: @Sendable (Int, Int) -> Void = { _, _ in },
        body: @Sendable (Int, Workspace) throws -> Void
    ) throws {
        let workers = max(1, min(threads, count))
        if workers > 1 {
            pinned.withLock { p in
                if p.sections == 0 {
                    p.threads = BLAS.threads
                    BLAS.setThreads(1)
                }
                p.sections += 1
            }
            defer {
                pinned.withLock { p in
                    p.sections -= 1
                    if p.sections == 0 { BLAS.setThreads(p.threads) }
                }
            }
            try run(workers: workers, count: count, progress: progress, body: body)
        } else {
            try run(workers: 1, count: count, progress: progress, body: body)
        }
    }

    private static func run(
        workers: Int, count: Int, progress: @Sendable (Int, Int) -> Void,
        body: @Sendable (Int, Workspace) throws -> Void
    ) throws {
        let failure = Mutex<Error?>(nil)
        let next = Atomic<Int>(0), done = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let workspace = Workspace()
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < count, failure.withLock({ $0 == nil }) else { return }
                do { try body(i, workspace) } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                    return
                }
                progress(done.wrappingAdd(1, ordering: .relaxed).newValue, count)
            }
        }
        if let e = failure.withLock({ $0 }) { throw e }
    }
}
