import CompressionPipeline
import Foundation

/// One shard of a batch: the files whose stable hash falls on `index` of `count`. Every shard computes the same
/// assignment from the relative paths alone, so shards need no coordination.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else { throw BatchError.badShard("\(index)/\(count)") }
        self.index = index
        self.count = count
    }

    public static let whole = try! Shard(index: 0, count: 1)

    public var description: String { "\(index)/\(count)" }

    /// `--shard i/n`.
    public init(parsing text: String) throws {
        let p = text.split(separator: "/")
        guard p.count == 2, let i = Int(p[0]), let n = Int(p[1]) else { throw BatchError.badShard(text) }
        try self.init(index: i, count: n)
    }

    /// Whether this shard encodes the file with this relative output path.
    /// (FNV-1a of the relative path's UTF-8 bytes: stable across runs, machines and Swift versions.)
    public func owns(_ relative: String) -> Bool { count == 1 || Int(FNV1a.hash(relative) % UInt64(count)) == index }

    /// The shard from the command line or the engine's environment, in this order: `--shard i/n`; Kubernetes Indexed
    /// Jobs (`JOB_COMPLETION_INDEX`, with `--shards n` or `FACEJND_SHARDS`); Slurm job arrays (`SLURM_ARRAY_TASK_ID`
    /// and `SLURM_ARRAY_TASK_COUNT`, counted from `SLURM_ARRAY_TASK_MIN`); AWS Batch array jobs
    /// (`AWS_BATCH_JOB_ARRAY_INDEX`, with `AWS_BATCH_JOB_ARRAY_SIZE`, `--shards` or `FACEJND_SHARDS`); else the whole
    /// batch.
    public static func resolve(option: String?, shards: Int?, environment: [String: String]) throws -> Shard {
        if let option { return try Shard(parsing: option) }
        func number(_ key: String) throws -> Int? {
            guard let v = environment[key] else { return nil }
            guard let n = Int(v.trimmingCharacters(in: .whitespaces)) else { throw BatchError.badEnvironment(key, v) }
            return n
        }
        let declared = try shards ?? number("FACEJND_SHARDS")
        if let i = try number("JOB_COMPLETION_INDEX") {
            guard let n = declared else { throw BatchError.shardCountMissing("JOB_COMPLETION_INDEX") }
            return try Shard(index: i, count: n)
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            guard let n = try number("SLURM_ARRAY_TASK_COUNT") ?? declared else { throw BatchError.shardCountMissing("SLURM_ARRAY_TASK_ID") }
            return try Shard(index: id - (try number("SLURM_ARRAY_TASK_MIN") ?? 0), count: n)
        }
        if let i = try number("AWS_BATCH_JOB_ARRAY_INDEX") {
            guard let n = try number("AWS_BATCH_JOB_ARRAY_SIZE") ?? declared else { throw BatchError.shardCountMissing("AWS_BATCH_JOB_ARRAY_INDEX") }
            return try Shard(index: i, count: n)
        }
        return .whole
    }
}
