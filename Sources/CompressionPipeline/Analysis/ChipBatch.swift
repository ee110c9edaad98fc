import FaceAnalysis
import Foundation
import Synchronization

/// Face chips waiting for their descriptors, embedded in parallel batches.
///
/// One ResNet forward pass keeps OpenBLAS busy on only about 1.3 of 2 cores; embedding several chips at once, one
/// single-threaded pass per core, uses both. The analysis and verification passes queue every face's chip while
/// decoding and collect the descriptors a batch at a time.
final class ChipBatch<Key: Sendable> {
    let embedder: FaceEmbedder
    let threads: Int
    let capacity: Int
    private var keys: [Key] = []
    private var chips: [[UInt8]] = []

    init(embedder: FaceEmbedder, threads: Int, capacity: Int = 32) {
        self.embedder = embedder
        self.threads = threads
        self.capacity = capacity
    }

    /// The keys of the chips still waiting for their descriptors.
    var waiting: [Key] { keys }

    /// Queues a chip; returns the finished batch when the queue is full.
    func add(_ key: Key, chip: [UInt8]) throws -> [(Key, [Float])] {
        keys.append(key)
        chips.append(chip)
        return keys.count >= capacity ? try flush() : []
    }

    /// Embeds everything queued.
    func flush() throws -> [(Key, [Float])] {
        guard !chips.isEmpty else { return [] }
        let chips = self.chips, embedder = self.embedder
        let results = Mutex<[Int: [Float]]>([:])
        try ParallelWork.forEach(count: chips.count, threads: threads) { i, workspace in
            let e = embedder.embed(chip: chips[i], workspace: workspace)
            results.withLock { $0[i] = e }
        }
        let done = results.withLock { r in keys.indices.map { (keys[$0], r[$0]!) } }
        keys.removeAll(keepingCapacity: true)
        self.chips.removeAll(keepingCapacity: true)
        return done
    }
}
