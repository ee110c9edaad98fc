import FaceAnalysis
import Foundation

/// The dlib models loaded once per test process (nil when they are not installed: scripts/fetch-models).
public let sharedAnalyzer: FaceAnalyzer? = try? FaceAnalyzer()

/// Committed face fixtures (frames, faces, traces), read from the source tree.
public let fixtures = Fixtures.repositoryRoot.appendingPathComponent("Tests/FaceAnalysisTests/Fixtures")
