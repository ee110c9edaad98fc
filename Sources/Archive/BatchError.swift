/// What can be wrong with a batch before any file is encoded.
public enum BatchError: Error, Equatable, CustomStringConvertible {
    case badShard(String)
    case badEnvironment(String, String)
    case shardCountMissing(String)
    case inputNotFound(String)
    case badManifestLine(path: String, line: Int, reason: String)
    case outputInsideInput(String)
    case truncatedInput(path: String, decoded: Int, declared: Int)

    public var description: String {
        switch self {
        case .badShard(let s): "--shard takes i/n with 0 <= i < n, got '\(s)'"
        case .badEnvironment(let key, let value): "\(key) must be a whole number, got '\(value)'"
        case .shardCountMissing(let key): "\(key) is set but the number of shards is not: give --shards N or set FACEJND_SHARDS"
        case .inputNotFound(let path): "input \(path) does not exist (and matches no file as a glob)"
        case .badManifestLine(let path, let line, let reason): "\(path):\(line): \(reason)"
        case .outputInsideInput(let path): "the output directory \(path) is an input; choose an output directory outside the inputs"
        case .truncatedInput(let path, let decoded, let declared):
            "\(path) is truncated or damaged: \(decoded) of its \(declared) frames decode; no output written"
        }
    }
}
