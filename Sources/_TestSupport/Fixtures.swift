import Foundation
import MediaIO
import NeuralNet
import Synchronization
import TensorCore

private let processWideDirectories = Mutex<[URL]>([])

private func removeProcessWideDirectories() {
    for url in processWideDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
}

/// Shared helpers for the test targets: temporary directories, synthetic clips, the bundled sample.
public enum Fixtures {
    /// The repository root (found from this file's location).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The bundled sample clip (real faces, AAC audio).
    public static var sampleClip: String { repositoryRoot.appendingPathComponent("samples/group_video_01.mp4").path }

    /// `grey` mid-grey frames, then the first `frames` frames of the bundled sample (640×480, 30 fps, almost
    /// lossless): a face that appears after the clip has started.
    public static func sampleAfterGreyFrames(_ grey: Int, frames: Int, at path: String) throws -> String {
        let reader = try VideoReader(path: Fixtures.sampleClip)
        let scaler = try Scaler()
        let writer = try VideoWriter(
            path: path, width: 640, height: 480, framesPerSecond: 30,
            settings: EncoderSettings(codec: "libx264", preset: "veryfast", rateControl: .qp(4)))
        for _ in 0..<grey { try writer.append(RGBImage(width: 640, height: 480, pixels: [UInt8](repeating: 128, count: 640 * 480 * 3))) }
        try reader.forEachFrame { index, frame in
            try writer.append(try scaler.rgb(frame))
            return index + 1 < frames
        }
        try writer.finish()
        return path
    }

    /// The first `frames` frames of the bundled sample, re-encoded almost losslessly (a short clip keeps the suite fast).
    /// With `storedTurned`, the pictures are stored turned a quarter counter-clockwise with a display matrix that turns
    /// them back, as phones store portrait video.
    public static func shortSample(frames: Int, in dir: URL, storedTurned: Bool = false) throws -> String {
        let path = dir.appendingPathComponent("sample-\(frames)\(storedTurned ? "-turned" : "").mp4").path
        let reader = try VideoReader(path: Fixtures.sampleClip)
        let scaler = try Scaler()
        var writer: VideoWriter? = nil
        try reader.forEachFrame { index, frame in
            var rgb = try scaler.rgb(frame)
            if storedTurned {
                let t = Orientation(quarterTurns: 3).upright(rgb)
                rgb = RGBImage(width: t.width, height: t.height, pixels: t.pixels)
            }
            if writer == nil {
                writer = try VideoWriter(
                    path: path, width: rgb.width, height: rgb.height, framesPerSecond: 30,
                    settings: EncoderSettings(codec: "libx264", preset: "veryfast", rateControl: .qp(4)),
                    rotationDegrees: storedTurned ? -90 : 0)
            }
            try writer!.append(rgb)
            return index + 1 < frames
        }
        try writer!.finish()
        return path
    }

    /// A fresh empty directory under the system temporary directory.
    public static func temporaryDirectory(_ label: String = #function) throws -> URL {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("facejnd-tests-\(safe)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A fresh empty directory for a fixture shared by a whole suite (no test owns it, so none can remove it): it is
    /// removed when the test process exits.
    public static func processWideDirectory(_ label: String) throws -> URL {
        let url = try temporaryDirectory(label)
        processWideDirectories.withLock { list in
            if list.isEmpty { atexit { removeProcessWideDirectories() } }
            list.append(url)
        }
        return url
    }

    /// Files in `dir` (names only), to check that nothing was left behind.
    public static func listing(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    /// A deterministic moving test pattern with texture everywhere, so that an encoder codes every macroblock
    /// (a flat picture would be skipped and hide QP differences).
    public static func pattern(width: Int, height: Int, frame: Int, seed: UInt64 = 1) -> RGBImage {
        var rng = SeededGenerator(seed: seed)
        // Static noise texture scrolled by the frame index plus a gradient: motion that inter prediction must code.
        var noise = [UInt8](repeating: 0, count: 64 * 64)
        for i in 0..<noise.count { noise[i] = UInt8.random(in: 0...255, using: &rng) }
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let n = Int(noise[((y + frame * 3) & 63) * 64 + ((x + frame * 5) & 63)])
                let o = (y * width + x) * 3
                px[o] = UInt8((n + x) & 255)
                px[o + 1] = UInt8((n / 2 + y + frame * 7) & 255)
                px[o + 2] = UInt8((255 - n + (x ^ y)) & 255)
            }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    /// Writes a synthetic clip.
    /// - Parameters:
    ///   - ptsTicks: explicit timestamps in 1/1000 s (variable frame rate); default: constant rate.
    ///   - audio: add a 48 kHz stereo PCM track with a distinct tone.
    @discardableResult
    public static func makeClip(
        at path: String, width: Int = 320, height: Int = 240, frames: Int = 40, fps: Int = 25,
        ptsTicks: [Int64]? = nil, audio: Bool = false, rotation: Double = 0
    ) throws -> String {
        let writer = try VideoWriter(
            path: path, width: width, height: height, framesPerSecond: fps,
            timeBaseDenominator: ptsTicks == nil ? fps : 1000,
            settings: EncoderSettings(codec: "libx264", preset: "ultrafast", rateControl: .crf(18)),
            rotationDegrees: rotation, audio: audio ? (48000, 2) : nil)
        let samplesPerFrame = 48000 / fps
        for i in 0..<frames {
            try writer.append(pattern(width: width, height: height, frame: i), pts: ptsTicks?[i])
            if audio {
                var s = [Int16](repeating: 0, count: samplesPerFrame * 2)
                for k in 0..<samplesPerFrame {
                    let t = Double(i * samplesPerFrame + k) / 48000
                    let v = Int16(8000 * sin(2 * Double.pi * 440 * t))
                    s[2 * k] = v
                    s[2 * k + 1] = Int16(truncatingIfNeeded: Int(v) * 3 / 4 + k)
                }
                try writer.appendAudio(s)
            }
        }
        try writer.finish()
        return path
    }
}

/// A small, seedable generator (SplitMix64) so that tests are repeatable: the one training uses.
public typealias SeededGenerator = SplitMix
