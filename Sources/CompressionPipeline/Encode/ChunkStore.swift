import Foundation
import MediaIO
import RateControl

/// What the chunked encode carries from one chunk into the next: enough to go on from any finished chunk.
struct CarryState: Codable, Equatable {
    var correction = CarriedCorrection()
    var repairs = FacePlanner.Repairs()
    var unfiltered: [Int] = []
    var upperOnly: [Int] = []
    var policies: [Int: TrackPolicy] = [:]
    /// The chunk length the next chunk is cut at (nil in chunks kept before it could change).
    var chunkFrames: Int? = nil
}

/// One accepted chunk of a chunked encode, as the report and a resumed run need it.
struct ChunkOutcome: Codable, Equatable {
    var frames: Range<Int>
    /// Per encode of the chunk: its bytes, faces over τ and the repairs it led to.
    var encodes: [EncodePass] = []
    var checks: [FaceCheck] = []
    /// The plan of the accepted encode, one entry per frame of the chunk.
    var plan: [PlannedFrame] = []
    /// Segments in the chunk and how many passed its first encode.
    var segments = 0
    var passed = 0
    /// The state after the chunk was accepted.
    var state = CarryState()
}

/// `encode --resume`: finished chunks kept in a work directory next to the output, so that a run killed half way
/// encodes only what is left. The directory holds `manifest.json` (input fingerprint and settings hash: a different
/// input or other settings start afresh) and per chunk its outcome (`chunk-NNNNNN.json`) and packets
/// (`chunk-NNNNNN.bin`), each written under a temporary name and renamed, packets first. A chunk is taken over only
/// when its outcome, its packets and its frame range all check out; the chunks after the first that does not are
/// encoded again. The directory is removed when the output is in place.
struct ChunkStore {
    struct Manifest: Codable, Equatable {
        var schema = "facejnd-chunks/1"
        var fingerprint: InputFingerprint
        var settingsHash: String
        enum CodingKeys: String, CodingKey {
            case schema, fingerprint
            case settingsHash = "settings_hash"
        }
    }

    let directory: URL

    /// Where the work directory of `output` lives.
    static func directory(for output: String) -> URL {
        let url = URL(fileURLWithPath: output)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).facejnd-chunks")
    }

    /// Opens (or starts) the work directory for encoding `input` to `output` with `settings`.
    init(output: String, input: String, settings: EncodeReport.Settings) throws {
        directory = Self.directory(for: output)
        let manifest = Manifest(fingerprint: try InputFingerprint(path: input), settingsHash: try SettingsHash.of(settings))
        let manifestURL = directory.appendingPathComponent("manifest.json")
        let existing = (try? Data(contentsOf: manifestURL)).flatMap { try? JSONDecoder().decode(Manifest.self, from: $0) }
        Self.removeDeadRunsScratch(of: output)
        if existing != manifest {
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try AtomicFile.write(try JSONEncoder().encode(manifest), to: manifestURL.path)
        }
    }

    /// The muxer's temporary files (`.<stem>.facejnd-tmp-<pid>-<n>.<ext>`) of runs that were killed: a process killed
    /// with SIGKILL cannot remove its own. Files of processes still alive are left alone.
    static func removeDeadRunsScratch(of output: String) {
        let url = URL(fileURLWithPath: output)
        let folder = url.deletingLastPathComponent().path
        let prefix = "." + url.deletingPathExtension().lastPathComponent + ".facejnd-tmp-"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count).prefix { $0.isNumber }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: folder + "/" + entry) }
        }
    }

    private func url(_ chunk: Int, _ ext: String) -> URL {
        directory.appendingPathComponent(String(format: "chunk-%06d.%@", chunk, ext))
    }

    /// A finished chunk's outcome and packets, if this chunk was finished with exactly these frames.
    func load(chunk: Int, frames: Range<Int>) -> (ChunkOutcome, [StoredPacket])? {
        guard let json = try? Data(contentsOf: url(chunk, "json")), let outcome = try? JSONDecoder().decode(ChunkOutcome.self, from: json),
            outcome.frames == frames, let bin = try? Data(contentsOf: url(chunk, "bin")), let packets = StoredPacket.deserialize(bin),
            packets.count == frames.count
        else { return nil }
        return (outcome, packets)
    }

    /// Keeps an accepted chunk: packets first, so that an outcome on disk always has its packets.
    func save(chunk: Int, outcome: ChunkOutcome, packets: [StoredPacket]) throws {
        try AtomicFile.write(StoredPacket.serialize(packets), to: url(chunk, "bin").path)
        try AtomicFile.write(try JSONEncoder().encode(outcome), to: url(chunk, "json").path)
    }

    /// The output is in place: the chunks are no longer needed.
    func finish() throws {
        try FileManager.default.removeItem(at: directory)
    }
}
