internal import COpenBLAS
import Synchronization

/// The few OpenBLAS routines facejnd uses, on Swift buffers. Row-major only.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C` in single precision, row-major.
    ///
    /// `op(A)` is m×k, `op(B)` is k×n, `C` is m×n. Leading dimensions are row strides in elements.
    /// The corresponding C function is `cblas_sgemm`.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension")
        precondition(
            lda >= max(1, transposeA ? m : k) && ldb >= max(1, transposeB ? k : n) && ldc >= max(1, n),
            "sgemm: leading dimension too small")
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    private static let threadCount = Atomic<Int>(0)

    /// Sets the number of threads for the whole process: OpenBLAS's and those of our own kernels that split work
    /// (im2col). Call it from the CLI, or before running several single-threaded workers (then with 1).
    public static func setThreads(_ count: Int) {
        let n = max(1, count)
        splitSections.withLock { s in
            threadCount.store(n, ordering: .relaxed)
            openblas_set_num_threads(s.sections > 0 ? 1 : Int32(n))
        }
    }

    /// Sections running with OpenBLAS on one thread while facejnd's kernels split the work themselves, and over how
    /// many threads (the first open section's count).
    private static let splitSections = Mutex<(sections: Int, threads: Int)>((0, 1))

    /// Runs `body` with OpenBLAS on one thread while the kernels that know how (`splitSgemm`, the convolutions of
    /// mobile networks) split their work over `threads` callers themselves (`splitThreads`). Between OpenBLAS calls
    /// its idle threads spin in `sched_yield` for about 0.1 s and take a core from whatever runs in between: the
    /// depthwise layers of CenterFace ran about a quarter slower for it (docs/detector.md). Sections nest and overlap
    /// (the count is the first one's); OpenBLAS gets `BLAS.threads` back when the last ends. The count is the
    /// section's own, so that a `setThreads` elsewhere (a `ParallelWork` section starting) does not change it midway.
    public static func withSplitWork<R, E: Error>(threads count: Int = threads, _ body: () throws(E) -> R) throws(E) -> R {
        splitSections.withLock { s in
            if s.sections == 0 {
                // Remember OpenBLAS's default before pinning it, so that `threads` still answers it.
                if threadCount.load(ordering: .relaxed) == 0 {
                    threadCount.store(Int(openblas_get_num_threads()), ordering: .relaxed)
                }
                openblas_set_num_threads(1)
                s.threads = max(1, count)
            }
            s.sections += 1
        }
        defer {
            splitSections.withLock { s in
                s.sections -= 1
                if s.sections == 0 { openblas_set_num_threads(Int32(threads)) }
            }
        }
        return try body()
    }

    /// Threads a kernel should split its work over itself: the count of the open `withSplitWork` section, else 1
    /// (then OpenBLAS threads each product on its own).
    public static var splitThreads: Int {
        splitSections.withLock { $0.sections > 0 ? $0.threads : 1 }
    }

    /// `sgemm` (B and C untransposed) split over `threads` callers of OpenBLAS, by columns of C when there are enough,
    /// else by rows. Call it inside `withSplitWork` with `splitThreads`; with 1 it is `sgemm`.
    public static func splitSgemm(
        transposeA: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        let byColumns = n >= 256 * threads
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        forEachPart(of: byColumns ? n : m, parts: min(threads, byColumns ? n : m)) { _, part in
            if byColumns {
                sgemm(
                    transposeA: transposeA, m: m, n: part.count, k: k, a: a, lda: lda, b: b + part.lowerBound, ldb: ldb,
                    beta: beta, c: c + part.lowerBound, ldc: ldc)
            } else {
                // Rows `part` of op(A): rows of A, or columns when A is stored transposed.
                let i0 = part.lowerBound
                sgemm(
                    transposeA: transposeA, m: part.count, n: n, k: k, a: a + (transposeA ? i0 : i0 * lda), lda: lda, b: b,
                    ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
            }
        }
    }

    /// Threads kernels may use (OpenBLAS's own default until `setThreads` is called).
    public static var threads: Int {
        let n = threadCount.load(ordering: .relaxed)
        return n > 0 ? n : Int(openblas_get_num_threads())
    }
}
