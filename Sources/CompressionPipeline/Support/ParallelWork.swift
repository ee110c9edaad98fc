import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// Runs independent items on `threads` workers, each with its own `Workspace`; stops at the first error and
/// rethrows it. With more than one worker, OpenBLAS is pinned to one thread while they run (one level of
/// parallelism), and given its thread count back afterwards.
public enum ParallelWork {
    public static func forEach(
        count: Int, threads: Int, progress: @Sendable (Int, Int) -> Void = { _, _ in },
        body: @Sendable (Int, Workspace) throws -> Void
    ) throws {
        let workers = max(1, min(threads, count))
        if workers > 1 {
            let before = BLAS.threads
            BLAS.setThreads(1)
            defer { BLAS.setThreads(before) }
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
