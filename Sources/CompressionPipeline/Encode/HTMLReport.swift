import Foundation
import MediaIO

/// One self-contained HTML page (inline SVG, no scripts, no network) for an encode and, optionally, a comparison.
public enum HTMLReport {
    public struct Series: Sendable {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        public var markers = false

        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false, markers: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
            self.markers = markers
        }
    }

    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    /// The encode report page.
    public static func render(encode r: EncodeReport) -> String {
        var body = "<h1>facejnd encode report</h1>\n"
        body += "<p>\(escape(r.input)) → \(escape(r.output)) · \(escape(r.settings.codec)) \(escape(r.settings.preset)) · "
        body += "\(r.frameCount) frames \(r.width)×\(r.height) · \(r.outputBytes) bytes · \(format(r.bitrateKbps, 1)) kbit/s</p>\n"
        let f = r.fidelity
        body += "<p class=\"\(r.unfixed.isEmpty ? "ok" : "bad")\">\(f.withinTau) of \(f.faces) faces within τ = \(format(r.settings.tau, 3)) "
        body += "(\(format(100 * f.fractionWithinTau, 2))%), mean distance \(format(f.meanDistance, 4)), max \(format(f.maxDistance, 4)); "
        body += "\(r.passes.count) pass(es)\(r.unfixed.isEmpty ? "" : ", \(r.unfixed.count) face(s) could not be fixed")</p>\n"

        let bg = Series(name: "background QP", color: "#7f7f7f", points: r.frames.map { (Double($0.index), Double($0.backgroundQP)) })
        var faceQP: [Series] = []
        var distance: [Series] = []
        for (k, t) in r.tracks.enumerated() {
            let color = palette[k % palette.count]
            let rows = r.frames.compactMap { fr in fr.faces.first { $0.track == t.track }.map { (fr.index, $0) } }
            faceQP.append(Series(name: "face \(t.track) QP", color: color, points: rows.map { (Double($0.0), Double($0.1.qp)) }))
            distance.append(
                Series(
                    name: "face \(t.track)", color: color,
                    points: rows.compactMap { i, row in row.distance.map { (Double(i), $0) } }))
        }
        body += chart(id: "qp", title: "QP per frame", xLabel: "frame", yLabel: "QP", series: [bg] + faceQP)
        body += chart(
            id: "bits", title: "Bits per frame", xLabel: "frame", yLabel: "kbit",
            series: [Series(name: "coded size", color: "#1f77b4", points: r.frames.map { (Double($0.index), Double($0.bytes) * 8 / 1000) })])
        let tauLine = Series(
            name: "τ", color: "#000000", points: [(0, r.settings.tau), (Double(max(1, r.frameCount - 1)), r.settings.tau)], dashed: true)
        body += chart(
            id: "distance", title: "Embedding distance per face over time", xLabel: "frame", yLabel: "‖e0 − e‖",
            series: distance + [tauLine])

        body += "<h2>Passes</h2>\n<table><tr><th>pass</th><th>bytes</th><th>faces over τ</th><th>tracks lowered</th></tr>\n"
        for p in r.passes {
            body +=
                "<tr><td>\(p.pass)</td><td>\(p.outputBytes)</td><td>\(p.facesOverTau)</td><td>\(p.repairedTracks.map(String.init).joined(separator: ", "))</td></tr>\n"
        }
        body +=
            "</table>\n<h2>Faces</h2>\n<table><tr><th>track</th><th>frames</th><th>JND QP (probes)</th><th>QP</th><th>max distance</th><th>policy</th><th>quality (CR / RI / consistency / score)</th></tr>\n"
        for t in r.tracks {
            body +=
                "<tr><td>\(t.track)</td><td>\(t.firstFrame)–\(t.lastFrame)</td><td>\(t.probes.map { "\($0.jndQP)@\($0.frame)" }.joined(separator: " "))</td>"
            body += "<td>\(t.qpMin)–\(t.qpMax)</td><td>\(format(t.maxDistance, 4))</td><td>\(t.policy.rawValue)</td>"
            body +=
                "<td>\(t.quality.map { "\(format($0.certaintyRatio, 3)) / \(format($0.recognizabilityIndex, 3)) / \(format($0.consistency, 3)) / \(format($0.score, 3))" } ?? "–")</td></tr>\n"
        }
        body += "</table>\n"
        body += prefilterStrip(r)
        return page(title: "facejnd report: \(r.input)", body: body)
    }

    /// Per track, the first prefiltered face: crop, residual map (mid-grey = 0) and the picture encoded, inlined as
    /// PNGs. Empty without a prefilter.
    static func prefilterStrip(_ r: EncodeReport) -> String {
        guard !r.prefilterExamples.isEmpty else { return "" }
        var out = "<h2>What the prefilter removed (\(escape(r.settings.prefilter)))</h2>\n"
        out += "<p>Per track, its first prefiltered face: the crop, the residual subtracted (mid-grey is 0, 16 grey levels per level) "
        out += "and the picture that was encoded.</p>\n<table><tr><th>track</th><th>frame</th><th>crop</th><th>residual</th><th>encoded</th></tr>\n"
        for e in r.prefilterExamples {
            let pictures = [e.crop, e.residualPicture, e.filtered].map { p -> String in
                guard let png = try? ImageFile.pngData(p) else { return "<td>–</td>" }
                return "<td><img class=\"face\" alt=\"\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></td>"
            }
            out += "<tr><td>\(e.track)</td><td>\(e.frame)</td>\(pictures.joined())</tr>\n"
        }
        return out + "</table>\n"
    }

    /// An SVG line chart with axes, ticks and a legend.
    public static func chart(
        id: String, title: String, xLabel: String, yLabel: String, series: [Series],
        width: Double = 860, height: Double = 300
    ) -> String {
        let all = series.flatMap(\.points)
        let left = 60.0, right = 170.0, top = 30.0, bottom = 45.0
        let pw = width - left - right, ph = height - top - bottom
        var x0 = all.map(\.x).min() ?? 0, x1 = all.map(\.x).max() ?? 1
        var y0 = min(0, all.map(\.y).min() ?? 0), y1 = all.map(\.y).max() ?? 1
        if x1 <= x0 { x1 = x0 + 1 }
        if y1 <= y0 { y1 = y0 + 1 }
        y1 += (y1 - y0) * 0.05
        if x0 > 0, all.map(\.x).min() == x0 { x0 = x0 - (x1 - x0) * 0.02 }
        func sx(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func sy(_ y: Double) -> Double { top + ph - (y - y0) / (y1 - y0) * ph }
        var s = "<figure id=\"\(id)\"><figcaption>\(escape(title))</figcaption>\n"
        s +=
            "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        for k in 0...5 {
            let xv = x0 + (x1 - x0) * Double(k) / 5, yv = y0 + (y1 - y0) * Double(k) / 5
            s += "<line x1=\"\(sx(xv))\" y1=\"\(top + ph)\" x2=\"\(sx(xv))\" y2=\"\(top + ph + 4)\" stroke=\"#333\"/>"
            s += "<text x=\"\(sx(xv))\" y=\"\(top + ph + 17)\" font-size=\"11\" text-anchor=\"middle\">\(tick(xv))</text>\n"
            s += "<line x1=\"\(left)\" y1=\"\(sy(yv))\" x2=\"\(left + pw)\" y2=\"\(sy(yv))\" stroke=\"#e5e5e5\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(sy(yv) + 4)\" font-size=\"11\" text-anchor=\"end\">\(tick(yv))</text>\n"
        }
        s += "<text x=\"\(left + pw / 2)\" y=\"\(height - 8)\" font-size=\"12\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s +=
            "<text x=\"14\" y=\"\(top + ph / 2)\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(top + ph / 2))\">\(escape(yLabel))</text>\n"
        for (k, ser) in series.enumerated() where !ser.points.isEmpty {
            let pts = ser.points.map { "\(format(sx($0.x), 1)),\(format(sy($0.y), 1))" }.joined(separator: " ")
            s +=
                "<polyline class=\"series\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"1.8\"\(ser.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(pts)\"/>\n"
            if ser.markers || ser.points.count == 1 {
                for p in ser.points { s += "<circle cx=\"\(format(sx(p.x), 1))\" cy=\"\(format(sy(p.y), 1))\" r=\"3\" fill=\"\(ser.color)\"/>" }
                s += "\n"
            }
            let ly = top + 12 + Double(k) * 16
            s +=
                "<line x1=\"\(left + pw + 12)\" y1=\"\(ly - 4)\" x2=\"\(left + pw + 34)\" y2=\"\(ly - 4)\" stroke=\"\(ser.color)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            s += "<text x=\"\(left + pw + 40)\" y=\"\(ly)\" font-size=\"11\">\(escape(ser.name))</text>\n"
        }
        return s + "</svg></figure>\n"
    }

    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        figure { margin: 1.5em 0; } figcaption { font-weight: bold; margin-bottom: 4px; }
        .ok { color: #1a7f37; } .bad { color: #b42318; } img.face { height: 128px; image-rendering: pixelated; }
        </style></head>
        <body>
        \(body)</body></html>

        """
    }

    public static func tick(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        if a >= 1 { return String(format: "%.2f", v) }
        return String(format: "%.3f", v)
    }

    public static func format(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
