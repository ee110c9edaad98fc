import Foundation
import MediaIO

/// One file of a batch.
public struct BatchItem: Sendable, Equatable {
    /// The path read.
    public var input: String
    /// Where its output goes under OUTDIR (`OutputMapping.relative`).
    public var relative: String
    /// Per-file options from a JSON-lines manifest (`BatchOverrides`).
    public var options: [String: String]

    public init(input: String, relative: String, options: [String: String] = [:]) {
        self.input = input
        self.relative = relative
        self.options = options
    }
}

/// The files a batch's INPUT arguments name: directories (walked recursively; a file is a video when FFmpeg opens
/// it with a video stream that is not a still image, whatever its name), globs, manifests (`.txt`, `.list`,
/// `.jsonl`: one path per line, or JSON lines `{"path": …, "options": {…}}`) and single files.
public struct BatchInputs {
    public var items: [BatchItem] = []
    /// Inputs that cannot be encoded before any encode starts: two inputs with one output, a manifest entry without a
    /// usable name. Recorded as failures.
    public var rejected: [(input: String, reason: String)] = []
    /// Files left out of directory walks: not videos, or symbolic links leaving the input tree.
    public var ignored = 0

    /// Extensions that make a file a video candidate even when it does not open (it then fails, with its error,
    /// instead of being silently ignored).
    public static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "m2ts", "mpg", "mpeg", "flv", "wmv", "3gp", "h264", "h265", "hevc",
    ]
    static let manifestExtensions: Set<String> = ["txt", "list", "jsonl"]

    /// Whether FFmpeg reads `path` as a video (not a still picture).
    public static func isVideo(_ path: String) -> Bool {
        guard let demuxer = try? Demuxer(path: path), (try? demuxer.bestVideoStream()) != nil else { return false }
        let format = demuxer.formatName
        return !(format == "image2" || format.hasSuffix("_pipe") || format == "gif")
    }

    public init(_ arguments: [String], outputDirectory: String, isVideo: (String) -> Bool = BatchInputs.isVideo) throws {
        let outputRoot = URL(fileURLWithPath: outputDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        var seen: [String: String] = [:]
        func add(_ input: String, name: String, options: [String: String] = [:]) {
            guard let relative = OutputMapping.relative(name) else {
                rejected.append((input, "no usable output name in '\(name)'"))
                return
            }
            if let other = seen[relative] {
                rejected.append((input, "its output \(relative) is also the output of \(other)"))
                return
            }
            seen[relative] = input
            items.append(BatchItem(input: input, relative: relative, options: options))
        }
        for argument in arguments {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) {
                let resolved = URL(fileURLWithPath: argument).standardizedFileURL.resolvingSymlinksInPath().path
                if isDirectory.boolValue {
                    if outputRoot == resolved { throw BatchError.outputInsideInput(outputDirectory) }
                    for (path, name) in walk(argument, root: resolved, skipping: outputRoot, isVideo: isVideo) { add(path, name: name) }
                } else if Self.manifestExtensions.contains(URL(fileURLWithPath: argument).pathExtension.lowercased()) {
                    for entry in try Self.manifest(argument) { add(entry.path, name: entry.name, options: entry.options) }
                } else {
                    add(argument, name: argument)
                }
            } else if argument.contains(where: { "*?[".contains($0) }) {
                let matches = Self.glob(argument)
                if matches.isEmpty { throw BatchError.inputNotFound(argument) }
                for m in matches { add(m, name: m) }
            } else {
                throw BatchError.inputNotFound(argument)
            }
        }
        items.sort { $0.relative < $1.relative }
    }

    /// Video files under `directory`, with their names relative to it. Symbolic links are followed only when they
    /// stay inside the tree; the output directory and hidden entries (scratch files) are skipped.
    private mutating func walk(_ directory: String, root: String, skipping outputRoot: String, isVideo: (String) -> Bool) -> [(String, String)] {
        let base = URL(fileURLWithPath: directory)
        guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else { return [] }
        var found: [(String, String)] = []
        let prefix = base.standardizedFileURL.path
        for case let url as URL in e {
            let real = url.standardizedFileURL.resolvingSymlinksInPath().path
            if real == outputRoot {
                e.skipDescendants()
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard real == root || real.hasPrefix(root + "/"), !real.hasPrefix(outputRoot + "/") else {
                ignored += 1
                continue
            }
            let path = url.standardizedFileURL.path
            let name = path.hasPrefix(prefix + "/") ? String(path.dropFirst(prefix.count + 1)) : url.lastPathComponent
            if Self.videoExtensions.contains(url.pathExtension.lowercased()) || isVideo(path) {
                found.append((path, name))
            } else {
                ignored += 1
            }
        }
        return found
    }

    /// A manifest's entries: paths relative to the manifest's directory; the output name is the path as written.
    static func manifest(_ path: String) throws -> [(path: String, name: String, options: [String: String])] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BatchError.badManifestLine(path: path, line: 0, reason: "cannot read it as UTF-8 text")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var entries: [(String, String, [String: String])] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var name = line
            var options: [String: String] = [:]
            if line.hasPrefix("{") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let p = object["path"] as? String
                else { throw BatchError.badManifestLine(path: path, line: n + 1, reason: "a JSON line needs a string \"path\"") }
                name = p
                if let o = object["options"] {
                    guard let o = o as? [String: Any] else {
                        throw BatchError.badManifestLine(path: path, line: n + 1, reason: "\"options\" must be an object")
                    }
                    options = o.mapValues { v in (v as? String) ?? "\(v)" }
                }
            }
            let resolved = name.hasPrefix("/") ? name : directory.appendingPathComponent(name).path
            entries.append((resolved, name, options))
        }
        return entries
    }

    /// The files a shell glob matches, sorted.
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.filter {
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue
        }.sorted()
    }
}
