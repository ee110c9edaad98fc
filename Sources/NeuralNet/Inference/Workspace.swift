import TensorCore

/// A grow-only float buffer. Reallocates only when asked for more than it holds, so repeated inference on
/// inputs of the same size allocates nothing after the first call.
public final class ScratchBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Makes room for `count` floats (contents are lost when it grows).
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }
}

/// A feature map living in a scratch buffer: shape plus a pointer into workspace memory.
public struct FeatureMap {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var buffer: ScratchBuffer

    public var count: Int { channels * height * width }
    public var pointer: UnsafeMutablePointer<Float> { buffer.pointer }

    public init(channels: Int, height: Int, width: Int, buffer: ScratchBuffer) {
        self.channels = channels
        self.height = height
        self.width = width
        self.buffer = buffer
        buffer.reserve(channels * height * width)
    }

    /// Copies the values out into a `Tensor`.
    public func tensor() -> Tensor {
        Tensor(
            channels: channels, height: height, width: width,
            data: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }
}

/// Per-call scratch memory for a network: an im2col buffer and a pool of activation buffers.
///
/// - Note: One workspace per thread; models are shared and immutable, workspaces are not.
public final class Workspace {
    public let columns = ScratchBuffer()
    private var pool: [ScratchBuffer] = []
    private var inUse: [Bool] = []

    public init() {}

    /// A buffer not currently lent out; give it back with `release`.
    public func borrow() -> ScratchBuffer {
        if let i = inUse.firstIndex(of: false) {
            inUse[i] = true
            return pool[i]
        }
        pool.append(ScratchBuffer())
        inUse.append(true)
        return pool[pool.count - 1]
    }

    public func release(_ b: ScratchBuffer) {
        if let i = pool.firstIndex(where: { $0 === b }) { inUse[i] = false }
    }

    /// Returns every buffer to the pool (call at the end of a forward pass).
    public func releaseAll() {
        for i in inUse.indices { inUse[i] = false }
    }
}
