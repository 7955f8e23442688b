import CBLAS
import CKernels
import CoreRuntime

extension BLASKernels {
    /// Query rows per block: the block's scores (rows × keys floats) stay in cache between the
    /// two multiplications, and the full [B, H, Sq, Sk] score tensor is never allocated.
    static let attentionQueryBlock = 64

    /// Attention per (batch, head, block of query rows): scores = scale · Q·Kᵀ by sgemm reading
    /// Q and K in place (row stride heads·size), + mask, the node's key selection (approximate
    /// attention: dropped keys' scores become −∞), softmax per row, then Y = scores · V by sgemm
    /// writing Y's [B, Sq, H, D] layout directly. Selection saves no time here — every score is
    /// still computed and the zeros still multiplied; it models what the approximation does to
    /// accuracy, for hardware that skips the dropped keys.
    static func attention(_ op: AttentionOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let g = try AttentionOp.geometry(inputs)
        let rowStride = g.heads * g.size
        _ = try (blasSize(g.queries, "queries"), blasSize(g.keys, "keys"), blasSize(rowStride, "heads·size"))
        let block = max(1, min(attentionQueryBlock, g.queries))
        let scoreBytes = block * g.keys * MemoryLayout<Float>.stride
        let scale = op.scale, selection = op.selection
        // (batch, head) pairs split across threads, each with its own scores and selection scratch.
        let partBytes = (scoreBytes + AttentionSelection.scratchBytes(keys: g.keys) + 63) / 64 * 64
        let split = ColumnSplit(columns: g.batch * g.heads, threads: threads, workPerColumn: 2 * g.queries * g.keys * g.size)
        return PreparedKernel(scratchBytes: split.ranges.count * partBytes) { args in
            let q = args.input(0), k = args.input(1), v = args.input(2), mask = args.optionalInput(3), y = args.output(0)
            guard g.keys > 0 else {
                // Softmax over no keys weighs nothing: the output is zeros.
                y.update(repeating: 0, count: g.batch * g.queries * rowStride)
                return
            }
            guard g.size > 0 else { return }
            split.run { part, pairs in
                let scores = (args.scratch! + part * partBytes).assumingMemoryBound(to: Float.self)
                let selectionScratch = args.scratch! + part * partBytes + scoreBytes
                for pair in pairs {
                    let (b, h) = pair.quotientAndRemainder(dividingBy: g.heads)
                    let keys = k + b * g.keys * rowStride + h * g.size
                    let values = v + b * g.keys * rowStride + h * g.size
                    for first in stride(from: 0, to: g.queries, by: block) {
                        let rows = min(block, g.queries - first)
                        let queries = q + (b * g.queries + first) * rowStride + h * g.size
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(g.keys), Int32(g.size),
                                    scale, queries, Int32(rowStride), keys, Int32(rowStride), 0, scores, Int32(g.keys))
                        for r in 0..<rows {
                            let line = scores + r * g.keys
                            if let mask, let s = g.maskStrides {
                                let base = mask + b * s[0] + h * s[1] + (first + r) * s[2]
                                if s[3] == 1 {
                                    for j in 0..<g.keys { line[j] += base[j] }
                                } else {
                                    for j in 0..<g.keys { line[j] += base[j * s[3]] }
                                }
                            }
                            selection.restrict(line, keys: g.keys, query: queries + r * rowStride, keyVectors: keys,
                                               keyStride: rowStride, size: g.size, scratch: selectionScratch)
                            swk_softmax(line, Int64(g.keys))
                        }
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(g.size), Int32(g.keys),
                                    1, scores, Int32(g.keys), values, Int32(rowStride), 0,
                                    y + (b * g.queries + first) * rowStride + h * g.size, Int32(rowStride))
                    }
                }
            }
        }
    }
}
