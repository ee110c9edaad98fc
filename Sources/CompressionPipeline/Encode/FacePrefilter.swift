import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// `--prefilter`: what replaces a protected face's pixels before it is encoded. Verification still compares the
/// decoded face with the original frame's, so fidelity is judged on what the user cares about.
public enum FacePrefilter: String, Sendable, Codable, CaseIterable {
    /// The decoded pixels as they are.
    case none
    /// The learned predictor's JND image: the crop minus the predicted residual map.
    case jnd
    /// The classical baseline: a bilateral denoise of the crop, per track and JND segment as strong as keeps the
    /// descriptor within `denoiseMargin · τ` of the original's (`Perception.FaceDenoise`).
    case denoise
}

extension EncodeJob {
    /// The prefilter step for one encode pass: for frame i, every followed face not in `skipping` gets its crop
    /// region (`JNDOracle.cropRegion`) replaced by the prefiltered crop, as a residual subtracted in the coded
    /// picture's Y′CbCr. Nil when the prefilter is off. `state` is shared by the passes of one encode.
    func prefilter(_ timeline: FaceTimeline, skipping: Set<Int>, state: PrefilterState) throws -> ((Int, Frame) throws -> Void)? {
        let residual: (RGBImage, TrackedFace, Int) -> (region: FaceBox, rgb: [Float])
        let chipSize = analyzer.embedder.chipSize
        switch options.prefilter {
        case .none: return nil
        case .jnd:
            guard let model = options.jndPredictor else { throw PipelineError.prefilterNeedsPredictor }
            residual = { image, f, _ in
                let p = model.predict(image, face: f.face, chipSize: chipSize, maps: true)
                return (p.region, feathered(p.prediction.residual, face: f.face.box, region: p.region))
            }
        case .denoise:
            let strengths =
                state.strengths
                ?? DenoiseStrengths(
                    embedder: analyzer.embedder, limit: Float(options.denoiseMargin * options.tau), segmentFrames: max(1, options.jndEvery))
            state.strengths = strengths
            residual = { image, f, i in
                let region = JNDOracle.cropRegion(for: f.face, imageWidth: image.width, imageHeight: image.height, chipSize: chipSize)
                let crop = image.cropped(to: region)
                let sigma = strengths.rangeSigma(crop: crop, region: region, face: f, frame: i)
                let denoised = FaceDenoise.filter(crop, rangeSigma: sigma)
                return (region, feathered(zip(crop.pixels, denoised.pixels).map { Float($0) - Float($1) }, face: f.face.box, region: region))
            }
        }
        let converter = try UprightConverter(orientation: timeline.orientation)
        let orientation = timeline.orientation
        return { i, frame in
            guard i < timeline.frames.count else { return }
            let faces = timeline.frames[i].filter { !skipping.contains($0.track) }
            guard !faces.isEmpty else { return }
            let image = try converter.picture(frame)
            var positions: [(x: Int, y: Int)] = [], rgb: [Float] = []
            for f in faces {
                let (r, values) = residual(image, f, i)
                state.examples.record(track: f.track, frame: i, crop: image.cropped(to: r), residual: values)
                for y in 0..<r.height {
                    for x in 0..<r.width {
                        positions.append(orientation.codedPoint(x: r.left + x, y: r.top + y, codedWidth: frame.width, codedHeight: frame.height))
                    }
                }
                rgb.append(contentsOf: values)
            }
            try RGBDifference.subtract(from: frame, at: positions, rgb: rgb)
        }
    }
}

/// One face as the prefilter changed it: the crop, the residual subtracted and the picture encoded (for the HTML
/// report, so a person can see what was removed).
public struct PrefilterExample: Sendable {
    public var track: Int
    public var frame: Int
    public var crop: RGBImage
    /// Interleaved RGB, levels (signed).
    public var residual: [Float]

    /// The crop minus the residual, rounded: what was encoded.
    public var filtered: RGBImage { JNDInput.jndImage(crop: crop, residual: residual) }

    /// The residual made visible: mid-grey is 0, 16 grey levels per level of residual.
    public var residualPicture: RGBImage {
        var out = crop
        for i in out.pixels.indices { out.pixels[i] = UInt8(clamping: Int((128 + 16 * residual[i]).rounded())) }
        return out
    }
}

/// What the prefilter keeps over one encode's passes (or a chunked encode's chunk encodes): the HTML report's
/// examples, and the denoise strengths, so that each track segment's strength is chosen once, not again every pass.
final class PrefilterState {
    let examples = PrefilterExamples()
    var strengths: DenoiseStrengths?
}

/// The first prefiltered face of each track in an encode.
final class PrefilterExamples: Sendable {
    private let byTrack = Mutex<[Int: PrefilterExample]>([:])

    /// Keeps the face unless its track has one; the crop is only cut then (this runs for every filtered face-frame).
    func record(track: Int, frame: Int, crop: @autoclosure () -> RGBImage, residual: [Float]) {
        byTrack.withLock { d in
            if d[track] == nil { d[track] = PrefilterExample(track: track, frame: frame, crop: crop(), residual: residual) }
        }
    }

    var all: [PrefilterExample] { byTrack.withLock { d in d.keys.sorted().map { d[$0]! } } }
}

/// A crop-sized residual (interleaved RGB) faded out from the face box (`FaceDenoise.feather`): the crop region
/// moves with the face in 16-pixel steps, and a residual cut off at its edge leaves a seam that motion compensation
/// pays for.
func feathered(_ residual: [Float], face: FaceBox, region: FaceBox) -> [Float] {
    let box = FaceBox(left: face.left - region.left, top: face.top - region.top, right: face.right - region.left, bottom: face.bottom - region.top)
    let weight = FaceDenoise.feather(box: box, width: region.width, height: region.height)
    return residual.indices.map { weight[$0 / 3] * residual[$0] }
}

/// The denoise strength of each track, chosen once per segment of `segmentFrames` frames on the first face-frame of
/// the track the segment holds: the strongest whose filtered chip keeps the descriptor within `limit` of the
/// unfiltered chip's. Choosing per segment, not per frame, costs a few descriptors per second of track instead of a
/// few per frame, and keeps the filter steady along the track (a flickering filter would cost inter-frame bits).
final class DenoiseStrengths {
    let embedder: FaceEmbedder
    let limit: Float
    let segmentFrames: Int
    private let workspace = Workspace()
    private var chosen: [Key: Float] = [:]

    struct Key: Hashable {
        var track: Int
        var segment: Int
    }

    init(embedder: FaceEmbedder, limit: Float, segmentFrames: Int) {
        self.embedder = embedder
        self.limit = limit
        self.segmentFrames = segmentFrames
    }

    /// The range σ for face `face` of frame `frame`, whose crop (region `region` of the upright picture) is `crop`.
    func rangeSigma(crop: RGBImage, region: FaceBox, face: TrackedFace, frame: Int) -> Float {
        let key = Key(track: face.track, segment: frame / segmentFrames)
        if let s = chosen[key] { return s }
        let landmarks = face.face.landmarks.map { Point(x: $0.x - Double(region.left), y: $0.y - Double(region.top)) }
        let placement = FaceChip.placement(landmarks: landmarks, size: embedder.chipSize)
        let e0 = embedder.embed(chip: FaceChip.extract(crop, placement), workspace: workspace)
        let strength = FaceDenoise.strongest { sigma in
            let chip = FaceChip.extract(FaceDenoise.filter(crop, rangeSigma: sigma), placement)
            return descriptorDistance(e0, embedder.embed(chip: chip, workspace: workspace)) <= limit
        }
        let sigma = FaceDenoise.rangeSigma(strength: strength)
        chosen[key] = sigma
        return sigma
    }
}
