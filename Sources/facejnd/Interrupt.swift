import Foundation
import Synchronization

/// Ctrl-C handling: the first SIGINT/SIGTERM asks the running job to stop (it then removes its temporary output);
/// a second one exits at once.
enum Interrupt {
    static let flag = Atomic<Bool>(false)

    static var requested: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        // A parent may have spawned us with these signals blocked (the mask survives exec); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { s in
                if Interrupt.flag.exchange(true, ordering: .relaxed) { _exit(128 + s) }
            }
        }
    }
}
