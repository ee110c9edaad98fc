/// Where a batch input's output goes: `OUTDIR/<relative path>`, with the relative path made safe so that no input
/// name — `..` components, absolute paths, newlines, control characters, shell metacharacters — can place a file
/// outside OUTDIR or hide it.
///
/// The rules (docs/archive.md): the path is split at `/`; empty, `.` and `..` components are dropped (an absolute
/// path becomes relative to OUTDIR, `a/../b` becomes `a/b`); in each component, control characters (newline, tab,
/// all of U+0000–U+001F and U+007F) become `_`; a component that starts with `.` gets a `_` in front (no hidden or
/// dot files, and never the batch's own scratch names). Everything else — spaces, quotes, `$`, `;`, non-ASCII — is
/// kept: it is only ever passed to system calls, never to a shell. Two inputs that map to the same output are a
/// conflict the batch reports, never an overwrite.
public enum OutputMapping {
    /// The safe relative path for an input's relative name; nil when nothing is left of it.
    public static func relative(_ name: String) -> String? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: true).compactMap { component -> String? in
            guard component != ".", component != ".." else { return nil }
            var safe = String(component.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "_" : Character($0) })
            if safe.hasPrefix(".") { safe = "_" + safe }
            return safe
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    /// The per-file report next to an output.
    public static func reportPath(for output: String) -> String { output + ".report.json" }

    /// The record of a file that failed, next to where its output would be.
    public static func failurePath(for output: String) -> String { output + ".failed.json" }
}
