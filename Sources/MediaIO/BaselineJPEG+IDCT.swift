extension BaselineJPEG {
    /// libjpeg's jidctint.c ("islow"): dequantised coefficients in natural order → 8×8 samples. Wrapping arithmetic
    /// (`&+`, `&*`): a damaged file can carry coefficients whose products overflow, which must not trap; valid
    /// files never come near Int's range, so the results are libjpeg's.
    static func idctIslow(_ c: [Int], into out: UnsafeMutablePointer<UInt8>, stride: Int) {
        let constBits = 13, pass1Bits = 2
        let f0298 = 2446, f0390 = 3196, f0541 = 4433, f0765 = 6270, f0899 = 7373, f1175 = 9633, f1501 = 12299
        let f1847 = 15137, f1961 = 16069, f2053 = 16819, f2562 = 20995, f3072 = 25172
        func descale(_ x: Int, _ n: Int) -> Int { (x &+ (1 << (n &- 1))) >> n }
        var ws = [Int](repeating: 0, count: 64)
        // Pass 1: columns, results scaled up by 2^pass1Bits.
        for col in 0..<8 {
            if c[8 &+ col] == 0 && c[16 &+ col] == 0 && c[24 &+ col] == 0 && c[32 &+ col] == 0 && c[40 &+ col] == 0
                && c[48 &+ col] == 0 && c[56 &+ col] == 0
            {
                let dcval = c[col] << pass1Bits
                for r in 0..<8 { ws[r &* 8 &+ col] = dcval }
                continue
            }
            var z2 = c[16 &+ col], z3 = c[48 &+ col]
            var z1 = (z2 &+ z3) &* f0541
            var tmp2 = z1 &+ z3 &* -f1847
            var tmp3 = z1 &+ z2 &* f0765
            z2 = c[col]; z3 = c[32 &+ col]
            var tmp0 = (z2 &+ z3) << constBits
            var tmp1 = (z2 &- z3) << constBits
            let tmp10 = tmp0 &+ tmp3, tmp13 = tmp0 &- tmp3, tmp11 = tmp1 &+ tmp2, tmp12 = tmp1 &- tmp2
            tmp0 = c[56 &+ col]; tmp1 = c[40 &+ col]; tmp2 = c[24 &+ col]; tmp3 = c[8 &+ col]
            z1 = tmp0 &+ tmp3; z2 = tmp1 &+ tmp2; z3 = tmp0 &+ tmp2
            var z4 = tmp1 &+ tmp3
            let z5 = (z3 &+ z4) &* f1175
            tmp0 &*= f0298; tmp1 &*= f2053; tmp2 &*= f3072; tmp3 &*= f1501
            z1 &*= -f0899; z2 &*= -f2562; z3 &*= -f1961; z4 &*= -f0390
            z3 &+= z5; z4 &+= z5
            tmp0 &+= z1 &+ z3; tmp1 &+= z2 &+ z4; tmp2 &+= z2 &+ z3; tmp3 &+= z1 &+ z4
            let n = constBits &- pass1Bits
            ws[col] = descale(tmp10 &+ tmp3, n); ws[56 &+ col] = descale(tmp10 &- tmp3, n)
            ws[8 &+ col] = descale(tmp11 &+ tmp2, n); ws[48 &+ col] = descale(tmp11 &- tmp2, n)
            ws[16 &+ col] = descale(tmp12 &+ tmp1, n); ws[40 &+ col] = descale(tmp12 &- tmp1, n)
            ws[24 &+ col] = descale(tmp13 &+ tmp0, n); ws[32 &+ col] = descale(tmp13 &- tmp0, n)
        }
        // Pass 2: rows; the final shift removes pass1Bits and the factor 8; +128 recentres; wrap-around range
        // limiting as libjpeg's table does (values are masked to 10 bits, then clamped).
        func limit(_ x: Int) -> UInt8 {
            let v = (x & 1023)
            let centred = v < 512 ? v : v &- 1024  // the 10-bit signed value
            return UInt8(max(0, min(255, centred &+ 128)))
        }
        for row in 0..<8 {
            let w = row &* 8
            let o = out + row * stride
            if ws[w &+ 1] == 0 && ws[w &+ 2] == 0 && ws[w &+ 3] == 0 && ws[w &+ 4] == 0 && ws[w &+ 5] == 0 && ws[w &+ 6] == 0 && ws[w &+ 7] == 0 {
                let v = limit(descale(ws[w], pass1Bits &+ 3))
                for i in 0..<8 { o[i] = v }
                continue
            }
            var z2 = ws[w &+ 2], z3 = ws[w &+ 6]
            var z1 = (z2 &+ z3) &* f0541
            var tmp2 = z1 &+ z3 &* -f1847
            var tmp3 = z1 &+ z2 &* f0765
            z2 = ws[w]; z3 = ws[w &+ 4]
            var tmp0 = (z2 &+ z3) << constBits
            var tmp1 = (z2 &- z3) << constBits
            let tmp10 = tmp0 &+ tmp3, tmp13 = tmp0 &- tmp3, tmp11 = tmp1 &+ tmp2, tmp12 = tmp1 &- tmp2
            tmp0 = ws[w &+ 7]; tmp1 = ws[w &+ 5]; tmp2 = ws[w &+ 3]; tmp3 = ws[w &+ 1]
            z1 = tmp0 &+ tmp3; z2 = tmp1 &+ tmp2; z3 = tmp0 &+ tmp2
            var z4 = tmp1 &+ tmp3
            let z5 = (z3 &+ z4) &* f1175
            tmp0 &*= f0298; tmp1 &*= f2053; tmp2 &*= f3072; tmp3 &*= f1501
            z1 &*= -f0899; z2 &*= -f2562; z3 &*= -f1961; z4 &*= -f0390
            z3 &+= z5; z4 &+= z5
            tmp0 &+= z1 &+ z3; tmp1 &+= z2 &+ z4; tmp2 &+= z2 &+ z3; tmp3 &+= z1 &+ z4
            let n = constBits &+ pass1Bits &+ 3
            o[0] = limit(descale(tmp10 &+ tmp3, n)); o[7] = limit(descale(tmp10 &- tmp3, n))
            o[1] = limit(descale(tmp11 &+ tmp2, n)); o[6] = limit(descale(tmp11 &- tmp2, n))
            o[2] = limit(descale(tmp12 &+ tmp1, n)); o[5] = limit(descale(tmp12 &- tmp1, n))
            o[3] = limit(descale(tmp13 &+ tmp0, n)); o[4] = limit(descale(tmp13 &- tmp0, n))
        }
    }
}
