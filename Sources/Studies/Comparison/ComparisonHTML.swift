import CompressionPipeline

/// The HTML page of `facejnd compare` (drawn with the encode report's charts).
public enum ComparisonHTML {
    /// A comparison-only page.
    public static func render(_ c: ComparisonReport) -> String {
        HTMLReport.page(title: "facejnd comparison: \(c.input)", body: "<h1>facejnd comparison</h1>\n" + section(c))
    }

    public static func section(_ c: ComparisonReport) -> String {
        var s =
            "<h2>Against the reference encode</h2>\n<table><tr><th></th><th>file bytes</th><th>video bytes</th><th>kbit/s</th><th>faces within τ</th><th>mean distance</th><th>max distance</th></tr>\n"
        for side in [c.reference, c.facejnd] {
            s +=
                "<tr><td>\(HTMLReport.escape(side.label))</td><td>\(side.bytes)</td><td>\(side.videoBytes.map(String.init) ?? "–")</td><td>\(HTMLReport.format(side.bitrateKbps, 1))</td>"
            s +=
                "<td>\(HTMLReport.format(100 * side.fidelity.fractionWithinTau, 2))%</td><td>\(HTMLReport.format(side.fidelity.meanDistance, 4))</td><td>\(HTMLReport.format(side.fidelity.maxDistance, 4))</td></tr>\n"
        }
        let what = c.referenceEncoder == "face-roi" ? "the face-ROI reference (facejnd's face regions at one constant QP)" : "the uniform reference"
        s +=
            "</table>\n<p>facejnd saves \(HTMLReport.format(c.savingsPercent, 1))% of \(what)'s video bytes (facejnd's file also keeps the input's audio).</p>\n"
        s += trackTable(c)
        if let sweep = c.sweep {
            let ref = HTMLReport.Series(
                name: "uniform QP", color: "#7f7f7f", points: sweep.reference.map { ($0.bitrateKbps, $0.fidelity.meanDistance) }, markers: true)
            let ours = HTMLReport.Series(
                name: "facejnd", color: "#d62728", points: sweep.facejnd.map { ($0.bitrateKbps, $0.fidelity.meanDistance) }, markers: true)
            s += HTMLReport.chart(
                id: "rd", title: "Rate–fidelity: mean face embedding distance against bitrate", xLabel: "kbit/s", yLabel: "mean ‖e0 − e‖",
                series: [ref, ours])
            let refF = HTMLReport.Series(
                name: "uniform QP", color: "#7f7f7f", points: sweep.reference.map { ($0.bitrateKbps, 100 * $0.fidelity.fractionWithinTau) },
                markers: true)
            let oursF = HTMLReport.Series(
                name: "facejnd", color: "#d62728", points: sweep.facejnd.map { ($0.bitrateKbps, 100 * $0.fidelity.fractionWithinTau) }, markers: true)
            s += HTMLReport.chart(
                id: "rf", title: "Rate–fidelity: faces within τ against bitrate", xLabel: "kbit/s", yLabel: "% within τ", series: [refF, oursF])
            if let bd = sweep.bdRatePercent {
                s += "<p>Bjøntegaard delta rate (facejnd vs uniform QP, fidelity −10·log10 mean distance): \(HTMLReport.format(bd, 1))%</p>\n"
            }
        }
        return s
    }

    /// Worst-case pooling per track: the worst frame and the worst 5% of frames, for both encodes.
    static func trackTable(_ c: ComparisonReport) -> String {
        guard !c.facejnd.tracks.isEmpty || !c.reference.tracks.isEmpty else { return "" }
        var s =
            "<h3>Per track</h3>\n<table><tr><th>encode</th><th>track</th><th>faces within τ</th><th>mean distance</th><th>worst 5%</th><th>worst frame</th></tr>\n"
        for side in [c.reference, c.facejnd] {
            for t in side.tracks {
                s += "<tr><td>\(HTMLReport.escape(side.label))</td><td>\(t.track)</td><td>\(t.withinTau) / \(t.faces)</td>"
                s +=
                    "<td>\(HTMLReport.format(t.meanDistance, 4))</td><td>\(HTMLReport.format(t.worst5PercentDistance, 4))</td><td>\(HTMLReport.format(t.worstDistance, 4))</td></tr>\n"
            }
        }
        return s + "</table>\n"
    }
}
