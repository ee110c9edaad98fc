import TensorCore

/// A baseline (sequential Huffman, 8-bit) JPEG decoder that reproduces libjpeg's default output exactly: the
/// "islow" integer IDCT (columns first, 13-bit constants, 2 extra bits between passes), then libjpeg's fancy
/// chroma upsampling and fixed-point colour conversion (`LibjpegColor`). dlib and PIL read JPEGs through libjpeg;
/// FFmpeg's integer IDCT works rows first and differs by ±1 in about 1% of pixels, which moves face landmarks and
/// descriptors. Progressive, arithmetic-coded, 12-bit and CMYK files return nil (the caller falls back to FFmpeg).
/// A JPEG whose bytes break the format: what is wrong and where.
public struct JPEGError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Byte offset in the file where the problem was found.
    public var offset: Int
    public var reason: String
    /// The file, when the caller read one.
    public var path: String?

    public init(offset: Int, reason: String, path: String? = nil) {
        self.offset = offset
        self.reason = reason
        self.path = path
    }

    public var description: String { "\(path.map { "\($0): " } ?? "")malformed JPEG at byte \(offset): \(reason)" }
}

enum BaselineJPEG {
    /// Pictures above this many pixels go to FFmpeg (which has its own limits) rather than being allocated here.
    static let maxPixels = 1 << 26
    struct Component {
        var id: Int
        var h: Int
        var v: Int
        var table: Int
        var dcTable = 0
        var acTable = 0
        var predictor = 0
        var blocksWide = 0
        var blocksHigh = 0
        var plane: [UInt8] = []
        var stride: Int { blocksWide * 8 }
    }

    struct Huffman {
        var lookup: [Int: (length: Int, value: UInt8)] = [:]  // key: (length << 16) | code
        var maxLength = 0

        init?(counts: [Int], symbols: [UInt8]) {
            var code = 0, k = 0
            for length in 1...16 {
                for _ in 0..<counts[length - 1] {
                    guard k < symbols.count else { return nil }
                    lookup[(length << 16) | code] = (length, symbols[k])
                    code += 1
                    k += 1
                }
                code <<= 1
            }
            maxLength = 16
        }
    }

    struct BitReader {
        let data: [UInt8]
        var position: Int
        var buffer: UInt32 = 0
        var count = 0
        var hitMarker = false

        mutating func fill() {
            while count <= 24 {
                var byte: UInt8 = 0
                if !hitMarker && position < data.count {
                    byte = data[position]
                    if byte == 0xFF {
                        let next = position + 1 < data.count ? data[position + 1] : 0
                        if next == 0x00 {
                            position += 2
                        } else {
                            hitMarker = true  // a marker: feed zeros, as libjpeg does
                            byte = 0
                        }
                    } else {
                        position += 1
                    }
                }
                buffer |= UInt32(byte) << UInt32(24 - count)
                count += 8
            }
        }

        mutating func bits(_ n: Int) -> Int {
            guard n > 0 else { return 0 }
            fill()
            let v = Int(buffer >> UInt32(32 - n))
            buffer <<= UInt32(n)
            count -= n
            return v
        }

        mutating func decode(_ t: Huffman) -> Int? {
            fill()
            var code = 0
            for length in 1...16 {
                code = (code << 1) | Int((buffer >> 31) & 1)
                buffer <<= 1
                count -= 1
                if let hit = t.lookup[(length << 16) | code] { return Int(hit.value) }
            }
            return nil
        }

        /// Skips to the next restart marker.
        mutating func restart() {
            buffer = 0
            count = 0
            hitMarker = false
            while position + 1 < data.count {
                if data[position] == 0xFF, (0xD0...0xD7).contains(data[position + 1]) { position += 2; return }
                position += 1
            }
        }
    }

    static func extend(_ v: Int, _ s: Int) -> Int { s == 0 ? 0 : (v < (1 << (s - 1)) ? v - (1 << s) + 1 : v) }

    static let zigzag: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63,
    ]

    /// Decodes `bytes` to RGB, or nil for files this decoder does not handle (not a JPEG, progressive, arithmetic,
    /// 12-bit, CMYK, more than one scan). Every length and index is checked against the file before it is used.
    /// - Throws: `JPEGError` naming the offset where a baseline JPEG's structure breaks.
    static func decode(_ bytes: [UInt8]) throws(JPEGError) -> RGBImage? {
        guard bytes.count > 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var quant = [[Int]](repeating: [Int](repeating: 0, count: 64), count: 4)
        var dc = [Huffman?](repeating: nil, count: 4), ac = [Huffman?](repeating: nil, count: 4)
        var components: [Component] = []
        var width = 0, height = 0, restartInterval = 0
        var pos = 2
        func u16(_ p: Int) -> Int { Int(bytes[p]) << 8 | Int(bytes[p + 1]) }
        /// `n` more bytes from `p` must lie inside the segment that ends at `end`.
        func need(_ n: Int, at p: Int, before end: Int, _ what: String) throws(JPEGError) {
            guard n >= 0, p + n <= end else { throw JPEGError(offset: p, reason: "\(what) runs past the end of its segment") }
        }
        while pos + 4 <= bytes.count {
            guard bytes[pos] == 0xFF else { throw JPEGError(offset: pos, reason: "expected a marker, found 0x\(String(bytes[pos], radix: 16))") }
            let marker = bytes[pos + 1]
            if marker == 0xFF {
                pos += 1
                continue
            }
            let length = u16(pos + 2)
            let seg = pos + 4, end = pos + 2 + length
            guard length >= 2 else { throw JPEGError(offset: pos + 2, reason: "segment length \(length) is below 2") }
            guard end <= bytes.count else { throw JPEGError(offset: pos + 2, reason: "segment of \(length) bytes runs past the end of the file") }
            switch marker {
            case 0xDB:
                var p = seg
                while p < end {
                    let pq = Int(bytes[p] >> 4), tq = Int(bytes[p] & 15)
                    guard tq < 4, pq < 2 else { throw JPEGError(offset: p, reason: "quantisation table \(tq) of precision \(pq)") }
                    try need(1 + 64 * (pq + 1), at: p, before: end, "quantisation table")
                    p += 1
                    for k in 0..<64 {
                        let v = pq == 0 ? Int(bytes[p]) : u16(p)
                        p += pq == 0 ? 1 : 2
                        quant[tq][zigzag[k]] = v
                    }
                }
            case 0xC4:
                var p = seg
                while p < end {
                    let tc = Int(bytes[p] >> 4), th = Int(bytes[p] & 15)
                    guard th < 4, tc < 2 else { throw JPEGError(offset: p, reason: "Huffman table class \(tc), index \(th)") }
                    try need(17, at: p, before: end, "Huffman table")
                    let counts = (0..<16).map { Int(bytes[p + 1 + $0]) }
                    let n = counts.reduce(0, +)
                    try need(17 + n, at: p, before: end, "Huffman table")
                    guard let t = Huffman(counts: counts, symbols: Array(bytes[(p + 17)..<(p + 17 + n)])) else {
                        throw JPEGError(offset: p, reason: "Huffman table has more codes than its lengths allow")
                    }
                    if tc == 0 { dc[th] = t } else { ac[th] = t }
                    p += 17 + n
                }
            case 0xC0, 0xC1:
                try need(6, at: seg, before: end, "frame header")
                guard bytes[seg] == 8 else { return nil }
                height = u16(seg + 1)
                width = u16(seg + 3)
                let nf = Int(bytes[seg + 5])
                guard width > 0, height > 0 else { throw JPEGError(offset: seg + 1, reason: "picture size \(width)x\(height)") }
                guard nf == 1 || nf == 3, components.isEmpty, width * height <= maxPixels else { return nil }
                try need(6 + 3 * nf, at: seg, before: end, "frame header")
                for i in 0..<nf {
                    let b = seg + 6 + 3 * i
                    let c = Component(id: Int(bytes[b]), h: Int(bytes[b + 1] >> 4), v: Int(bytes[b + 1] & 15), table: Int(bytes[b + 2]))
                    guard (1...2).contains(c.h), (1...2).contains(c.v), c.table < 4 else {
                        throw JPEGError(offset: b, reason: "component \(c.id): sampling \(c.h)x\(c.v), quantisation table \(c.table)")
                    }
                    components.append(c)
                }
            case 0xC2, 0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                return nil  // progressive, lossless, hierarchical or arithmetic coding
            case 0xDD:
                try need(2, at: seg, before: end, "restart interval")
                restartInterval = u16(seg)
            case 0xDA:
                guard !components.isEmpty else { throw JPEGError(offset: pos, reason: "scan before the frame header") }
                try need(1, at: seg, before: end, "scan header")
                let ns = Int(bytes[seg])
                guard ns == components.count else { return nil }  // one interleaved scan only
                try need(1 + 2 * ns, at: seg, before: end, "scan header")
                for i in 0..<ns {
                    let id = Int(bytes[seg + 1 + 2 * i]), tables = bytes[seg + 2 + 2 * i]
                    guard let k = components.firstIndex(where: { $0.id == id }) else {
                        throw JPEGError(offset: seg + 1 + 2 * i, reason: "scan names component \(id), which the frame does not have")
                    }
                    let dcIndex = Int(tables >> 4), acIndex = Int(tables & 15)
                    guard dcIndex < 4, acIndex < 4, dc[dcIndex] != nil, ac[acIndex] != nil else {
                        throw JPEGError(
                            offset: seg + 2 + 2 * i, reason: "component \(id) uses Huffman tables \(dcIndex)/\(acIndex), which are not defined")
                    }
                    components[k].dcTable = dcIndex
                    components[k].acTable = acIndex
                }
                return try decodeScan(
                    bytes, from: end, width: width, height: height, components: components, quant: quant, dc: dc, ac: ac,
                    restartInterval: restartInterval)
            default:
                break
            }
            pos = end
        }
        return nil
    }

    static func decodeScan(
        _ bytes: [UInt8], from start: Int, width: Int, height: Int, components inComponents: [Component],
        quant: [[Int]], dc: [Huffman?], ac: [Huffman?], restartInterval: Int
    ) throws(JPEGError) -> RGBImage? {
        var comps = inComponents
        let hmax = comps.map(\.h).max()!, vmax = comps.map(\.v).max()!
        let single = comps.count == 1
        let mcusX = single ? (width + 7) / 8 : (width + 8 * hmax - 1) / (8 * hmax)
        let mcusY = single ? (height + 7) / 8 : (height + 8 * vmax - 1) / (8 * vmax)
        for i in comps.indices {
            comps[i].blocksWide = single ? mcusX : mcusX * comps[i].h
            comps[i].blocksHigh = single ? mcusY : mcusY * comps[i].v
            comps[i].plane = [UInt8](repeating: 0, count: comps[i].blocksWide * 8 * comps[i].blocksHigh * 8)
        }
        var reader = BitReader(data: bytes, position: start)
        func blockIndex(_ mx: Int, _ my: Int) -> String { "MCU (\(mx), \(my))" }
        var coef = [Int](repeating: 0, count: 64)
        var mcu = 0
        for my in 0..<mcusY {
            for mx in 0..<mcusX {
                if restartInterval > 0, mcu > 0, mcu % restartInterval == 0 {
                    reader.restart()
                    for i in comps.indices { comps[i].predictor = 0 }
                }
                mcu += 1
                for ci in comps.indices {
                    let (bh, bv) = single ? (1, 1) : (comps[ci].h, comps[ci].v)
                    for by in 0..<bv {
                        for bx in 0..<bh {
                            for k in 0..<64 { coef[k] = 0 }
                            guard let s = reader.decode(dc[comps[ci].dcTable]!), s <= 15 else {
                                throw JPEGError(offset: reader.position, reason: "invalid DC code in block \(blockIndex(mx, my))")
                            }
                            comps[ci].predictor += extend(reader.bits(s), s)
                            let q = quant[comps[ci].table]
                            coef[0] = comps[ci].predictor * q[0]
                            var k = 1
                            while k < 64 {
                                guard let rs = reader.decode(ac[comps[ci].acTable]!) else {
                                    throw JPEGError(offset: reader.position, reason: "invalid AC code in block \(blockIndex(mx, my))")
                                }
                                let r = rs >> 4, sz = rs & 15
                                if sz == 0 {
                                    if r == 15 { k += 16; continue }
                                    break
                                }
                                k += r
                                guard k < 64 else {
                                    throw JPEGError(offset: reader.position, reason: "AC run past the end of block \(blockIndex(mx, my))")
                                }
                                let z = zigzag[k]
                                coef[z] = extend(reader.bits(sz), sz) * q[z]
                                k += 1
                            }
                            let blockX = mx * bh + bx, blockY = my * bv + by
                            let stride = comps[ci].stride
                            comps[ci].plane.withUnsafeMutableBufferPointer { p in
                                idctIslow(coef, into: p.baseAddress! + blockY * 8 * stride + blockX * 8, stride: stride)
                            }
                        }
                    }
                }
            }
        }
        if single {
            let c = comps[0]
            var out = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let v = c.plane[y * c.stride + x]
                    out[(y * width + x) * 3] = v; out[(y * width + x) * 3 + 1] = v; out[(y * width + x) * 3 + 2] = v
                }
            }
            return RGBImage(width: width, height: height, pixels: out)
        }
        // libjpeg's colour path needs luma at full resolution and both chroma planes at one common subsampling.
        guard comps[0].h == hmax, comps[0].v == vmax, comps[1].h == comps[2].h, comps[1].v == comps[2].v, comps[1].h == 1, comps[1].v == 1
        else { return nil }
        let hs = hmax, vs = vmax
        var yPlane = comps[0].plane, cbPlane = comps[1].plane, crPlane = comps[2].plane
        let yStride = comps[0].stride, cStride = comps[1].stride
        return cbPlane.withUnsafeMutableBufferPointer { cb in
            crPlane.withUnsafeMutableBufferPointer { cr in
                yPlane.withUnsafeMutableBufferPointer { y in
                    LibjpegColor.rgb(
                        y: y.baseAddress!, yStride: yStride, cb: cb.baseAddress!, cr: cr.baseAddress!,
                        cStride: cStride, width: width, height: height, hs: hs, vs: vs)
                }
            }
        }
    }
}
