import Dispatch

/// `body(part, range)` for `parts` consecutive ranges of nearly equal length covering `0..<count`, run concurrently
/// when `parts` > 1: how every kernel that divides rows, channels or columns between threads splits its work.
public func forEachPart(of count: Int, parts: Int, _ body: @Sendable (_ part: Int, _ range: Range<Int>) -> Void) {
    guard parts > 1 else { return body(0, 0..<count) }
    DispatchQueue.concurrentPerform(iterations: parts) { t in body(t, (count * t / parts)..<(count * (t + 1) / parts)) }
}
