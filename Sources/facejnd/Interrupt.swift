import Foundation
import MediaIO
import Synchronization

/// Signal handling: the first SIGINT, SIGTERM or SIGHUP asks the running job to stop (it then removes its temporary
/// output and exits 130); a second one removes every registered temporary file and exits at once. SIGXFSZ is
/// ignored, so a file-size limit (`ulimit -f`) becomes a write error (EFBIG) that is reported and cleaned up,
/// instead of killing the process with its scratch files in place.
enum Interrupt {
    static let flag = Atomic<Bool>(false)

    static var requested: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        // A parent may have spawned us with these signals blocked (the mask survives exec); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGXFSZ, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { s in
                if Interrupt.flag.exchange(true, ordering: .relaxed) {
                    TemporaryFiles.unlinkAll()
                    _exit(128 + s)
                }
            }
        }
    }
}
