#if canImport(Glibc)
    import Glibc
#endif

/// Gives the C heap's free memory back to the system.
///
/// glibc's malloc gives each thread that allocates a heap of its own (up to eight per core) and keeps what is freed in
/// it. A streamed encode allocates on a dozen threads (the detector's activations, x264's frames, the verifier's
/// chips), so at 1080p some 700 MB sat free in fifteen 64 MB heaps (`/proc/PID/smaps`) and counted in the peak.
/// `malloc_trim` hands it back; it is looked up at run time because Swift's Glibc module does not declare it. It is
/// not free (the pages come back zeroed on the next use: trimming after every analysis batch made the intel clip's
/// encode 15% slower), so it runs where the bound is at stake.
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32
    private static let trim: Trim? = {
        #if canImport(Glibc)
            // RTLD_DEFAULT: search every object loaded.
            if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") { return unsafeBitCast(symbol, to: Trim.self) }
        #endif
        return nil
    }()

    static func giveBack() { _ = trim?(0) }

    private typealias Option = @convention(c) (Int32, Int32) -> Int32
    private static let option: Option? = {
        #if canImport(Glibc)
            if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") { return unsafeBitCast(symbol, to: Option.self) }
        #endif
        return nil
    }()

    /// At most `count` heaps for the threads created from now on (`M_ARENA_MAX`; glibc's default is eight per core):
    /// fewer heaps, less freed memory scattered over them.
    static func limitHeaps(_ count: Int) { _ = option?(-8, Int32(max(1, count))) }
}
