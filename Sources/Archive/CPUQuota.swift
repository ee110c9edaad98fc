import Foundation

/// The number of cores a process may use: the machine's, limited by the container's CPU quota (cgroup v2 `cpu.max`,
/// or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`). A pod given 2 CPUs on a 64-core node must not start 64 threads.
public enum CPUQuota {
    /// Cores available, at least 1.
    public static func cores(root: String = "/sys/fs/cgroup", machine: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        guard let quota = limit(root: root) else { return max(1, machine) }
        return max(1, min(machine, Int(quota.rounded(.up))))
    }

    /// The quota in cores, nil when unlimited or unknown.
    public static func limit(root: String) -> Double? {
        if let text = try? String(contentsOfFile: root + "/cpu.max", encoding: .utf8) {
            let p = text.split(whereSeparator: \.isWhitespace)
            guard p.count == 2, let quota = Double(p[0]), let period = Double(p[1]), period > 0 else { return nil }  // "max 100000"
            return quota / period
        }
        if let q = try? String(contentsOfFile: root + "/cpu/cpu.cfs_quota_us", encoding: .utf8),
            let p = try? String(contentsOfFile: root + "/cpu/cpu.cfs_period_us", encoding: .utf8),
            let quota = Double(q.trimmingCharacters(in: .whitespacesAndNewlines)),
            let period = Double(p.trimmingCharacters(in: .whitespacesAndNewlines)), quota > 0, period > 0
        {
            return quota / period
        }
        return nil
    }
}
