/// What is wrong with a study's input (a JND dataset, a pairs file's images).
public enum StudyError: Error, CustomStringConvertible, Equatable, Sendable {
    case missing(path: String)
    case badDataset(path: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let path): return "not found: \(path)"
        case .badDataset(let path, let reason): return "\(path): \(reason)"
        }
    }
}
