import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// Runs independent items on `threads` workers, each with its own `Workspace`; stops at the first error and
/// rethrows it. With more than one worker, OpenBLAS is pinned to one thread: one level of parallelism.
enum ParallelWork {
    static func forEach(count: Int, threads: Int, progress: @Sendable (Int, Int) -> Void = { _, _ in },
                        body: @Sendable (Int, Workspace) throws -> Void) throws {
        let failure = Mutex<Error?>(nil)
        let next = Atomic<Int>(0), done = Atomic<Int>(0)
        let workers = max(1, min(threads, count))
        if workers > 1 { BLAS.setThreads(1) }
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
