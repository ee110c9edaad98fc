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
        openblas_set_num_threads(Int32(n))
        threadCount.store(n, ordering: .relaxed)
    }

    /// Threads kernels may use (OpenBLAS's own default until `setThreads` is called).
    public static var threads: Int {
        let n = threadCount.load(ordering: .relaxed)
        return n > 0 ? n : Int(openblas_get_num_threads())
    }
}
