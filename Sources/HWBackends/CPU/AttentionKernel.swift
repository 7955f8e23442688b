import CKernels
import CoreRuntime

extension BLASKernels {
    /// Query rows per block: as many as keep the block's scores (rows × keys rounded up to 16
    /// floats) within 16 KB, half of L1, between the two products, 8 to 64 (past 512 keys the
    /// 8-row floor makes a block larger). The full [B, H, Sq, Sk] score tensor is
    /// never allocated. (At MiniLM's 128 keys, 32-row blocks and 64-row ones measured the same
    /// within this machine's noise: Attention 3.47–3.76 vs 3.60–4.00 ms per run.)
    static func attentionQueryBlock(queries: Int, scoresStride: Int) -> Int {
        max(1, min(queries, max(8, min(64, 4096 / max(scoresStride, 1)))))
    }

    /// Attention per (batch, head): the head's K and V packed once (attention.c), then per block of
    /// query rows: scores = scale · Q·Kᵀ reading Q in place (row stride heads·size), + mask, the
    /// node's key selection (approximate attention: dropped keys' scores become −∞), softmax per
    /// row, then Y = scores · V written straight into Y's [B, Sq, H, D] layout. Selection saves no
    /// time here — every score is still computed and the zeros still multiplied; it models what
    /// the approximation does to accuracy, for hardware that skips the dropped keys.
    static func attention(_ op: AttentionOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let g = try AttentionOp.geometry(inputs)
        let rowStride = g.heads * g.size
        let scoresStride = Int(swk_attention_scores_stride(Int64(g.keys)))
        let block = attentionQueryBlock(queries: g.queries, scoresStride: scoresStride)
        let packedBytes = Int(swk_attention_packed_floats(Int64(g.keys), Int64(g.size))) * MemoryLayout<Float>.stride
        let scoreBytes = block * scoresStride * MemoryLayout<Float>.stride
        let scale = op.scale, selection = op.selection
        // (batch, head) pairs split across threads, each with its own packed head, scores and selection scratch.
        let partBytes = (packedBytes + scoreBytes + AttentionSelection.scratchBytes(keys: g.keys) + 63) / 64 * 64
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
                let packed = (args.scratch! + part * partBytes).assumingMemoryBound(to: Float.self)
                let scores = (args.scratch! + part * partBytes + packedBytes).assumingMemoryBound(to: Float.self)
                let selectionScratch = args.scratch! + part * partBytes + packedBytes + scoreBytes
                for pair in pairs {
                    let (b, h) = pair.quotientAndRemainder(dividingBy: g.heads)
                    let keys = k + b * g.keys * rowStride + h * g.size
                    swk_attention_pack_head(keys, v + b * g.keys * rowStride + h * g.size, Int64(rowStride), Int64(g.keys),
                                            Int64(g.size), packed)
                    for first in stride(from: 0, to: g.queries, by: block) {
                        let rows = min(block, g.queries - first)
                        let queries = q + (b * g.queries + first) * rowStride + h * g.size
                        swk_attention_scores(queries, Int64(rowStride), Int64(rows), packed, Int64(g.keys), Int64(g.size), scale,
                                             scores)
                        for r in 0..<rows {
                            let line = scores + r * scoresStride
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
                        swk_attention_context(scores, Int64(rows), packed, Int64(g.keys), Int64(g.size),
                                              y + (b * g.queries + first) * rowStride + h * g.size, Int64(rowStride))
                    }
                }
            }
        }
    }
}
