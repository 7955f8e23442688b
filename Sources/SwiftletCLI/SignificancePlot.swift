import CoreRuntime
import Foundation

/// `swiftlet analyze --plot`: a horizontal bar per measurement (component × approximation), in
/// rank order, bar length = significance on a linear axis from 0 to the largest finite value, one
/// colour per approximation. Hand-written SVG: one small, dependency-free file any browser shows.
enum SignificancePlot {
    static let palette = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1"]

    static func svg(_ ranked: [SignificanceAnalysis.Entry], measure: String) -> String {
        let labelWidth = 260.0, barWidth = 420.0, rowHeight = 18.0, top = 46.0
        let height = top + rowHeight * Double(ranked.count) + 20
        let largest = ranked.map(\.significance).filter(\.isFinite).max() ?? 0
        let scale = largest > 0 ? barWidth / largest : 0
        let approximations = ranked.reduce(into: [String]()) { seen, entry in
            if !seen.contains(entry.approximation.description) { seen.append(entry.approximation.description) }
        }
        func colour(_ entry: SignificanceAnalysis.Entry) -> String {
            palette[(approximations.firstIndex(of: entry.approximation.description) ?? 0) % palette.count]
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(labelWidth + barWidth + 120))" height="\(Int(height))" \
            font-family="sans-serif" font-size="11">
            <text x="4" y="16" font-size="13">Significance (rise in \(escape(measure))) per component, most significant first</text>

            """
        for (index, approximation) in approximations.enumerated() {
            let x = 4 + 150 * Double(index)
            svg += "<rect x=\"\(x)\" y=\"26\" width=\"10\" height=\"10\" fill=\"\(palette[index % palette.count])\"/>"
            svg += "<text x=\"\(x + 14)\" y=\"35\">\(escape(approximation))</text>\n"
        }
        for (index, entry) in ranked.enumerated() {
            let y = top + rowHeight * Double(index)
            let value = entry.significance.isFinite ? max(entry.significance, 0) : largest
            let width = entry.significance.isFinite ? value * scale : barWidth
            let text = entry.significance.isFinite ? String(format: "%.4g", entry.significance) : "inf"
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(escape(entry.component))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 2)\" width=\"\(String(format: "%.2f", width))\" height=\"\(rowHeight - 4)\" fill=\"\(colour(entry))\"/>"
            svg += "<text x=\"\(String(format: "%.2f", labelWidth + width + 4))\" y=\"\(y + 12)\">\(text)</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
