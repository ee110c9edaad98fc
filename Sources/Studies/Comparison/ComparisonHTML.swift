import CompressionPipeline

/// The HTML page of `facejnd compare` (drawn with the encode report's charts).
public enum ComparisonHTML {
    /// A comparison-only page.
    public static func render(_ c: ComparisonReport) -> String {
        HTMLReport.page(title: "facejnd comparison: \(c.input)", body: "<h1>facejnd comparison</h1>\n" + section(c))
    }

    public static func section(_ c: ComparisonReport) -> String {
        var s =
            "<h2>Against the reference encode</h2>\n<table><tr><th></th><th>bytes</th><th>kbit/s</th><th>faces within τ</th><th>mean distance</th><th>max distance</th></tr>\n"
        for side in [c.reference, c.facejnd] {
            s += "<tr><td>\(HTMLReport.escape(side.label))</td><td>\(side.bytes)</td><td>\(HTMLReport.format(side.bitrateKbps, 1))</td>"
            s +=
                "<td>\(HTMLReport.format(100 * side.fidelity.fractionWithinTau, 2))%</td><td>\(HTMLReport.format(side.fidelity.meanDistance, 4))</td><td>\(HTMLReport.format(side.fidelity.maxDistance, 4))</td></tr>\n"
        }
        s += "</table>\n<p>facejnd saves \(HTMLReport.format(c.savingsPercent, 1))% of the reference's bytes.</p>\n"
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

}
