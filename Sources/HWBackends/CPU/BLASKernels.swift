import CBLAS
import CoreRuntime

/// Gemm, MatMul and Conv on OpenBLAS sgemm.
enum BLASKernels {
    static func gemm(_ op: GemmOp, _ inputs: [TensorType?]) throws -> Kernel {
        let (m, k, n) = try op.dimensions(inputs)
        let lda = Int32(inputs[0]!.shape[1]), ldb = Int32(inputs[1]!.shape[1])
        let transA = op.transA ? CblasTrans : CblasNoTrans, transB = op.transB ? CblasTrans : CblasNoTrans
        let cShape = inputs[2]?.shape
        let alpha = op.alpha, beta = op.beta
        return { args in
            let y = args.output(0)
            var blasBeta: Float = 0
            if let cShape, let c = args.optionalInput(2), beta != 0 {
                // Y starts as broadcast C; sgemm then adds alpha·A·B to beta·Y.
                broadcastFill(y, rows: m, columns: n, from: c, shape: cShape)
                blasBeta = beta
            }
            guard m > 0, n > 0 else { return }
            if k == 0 {
                // sgemm leaves beta·Y for an empty product; Y must still be defined.
                for i in 0..<(m * n) { y[i] *= blasBeta }
                return
            }
            cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), alpha,
                        args.input(0), lda, args.input(1), ldb, blasBeta, y, Int32(n))
        }
    }

    static func matMul(_ inputs: [TensorType?]) throws -> Kernel {
        let g = try MatMulOp.geometry(inputs[0]!, inputs[1]!)
        let (m, k, n) = (g.m, g.k, g.n)
        return { args in
            let a = args.input(0), b = args.input(1), y = args.output(0)
            guard m > 0, n > 0, g.batchCount > 0 else { return }
            guard k > 0 else { y.update(repeating: 0, count: g.batchCount * m * n); return }
            if g.isSharedRightOperand {
                // [batch·M, K] × [K, N] in one call: far better blocking than per-batch calls.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.batchCount * m), Int32(n), Int32(k),
                            1, a, Int32(k), b, Int32(n), 0, y, Int32(n))
                return
            }
            g.forEachBatch { yMatrix, aMatrix, bMatrix in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                            1, a + aMatrix * m * k, Int32(k), b + bMatrix * k * n, Int32(n), 0, y + yMatrix * m * n, Int32(n))
            }
        }
    }

    /// Convolution as im2col + sgemm per image and group; 1×1 stride-1 unpadded convolutions
    /// multiply the input directly.
    static func conv(_ op: ConvOp, _ inputs: [TensorType?]) throws -> Kernel {
        let g = try op.geometry(inputs)
        let pointwise = g.kernelH == 1 && g.kernelW == 1 && g.strides == [1, 1] && g.pads == [0, 0, 0, 0]
        let outPlane = g.outH * g.outW, inPlane = g.height * g.width
        let (mg, cg, reduction) = (g.outChannelsPerGroup, g.inChannelsPerGroup, g.reduction)
        return { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            guard outPlane > 0, g.outChannels > 0 else { return }
            let columns = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: reduction * outPlane)
            defer { columns?.deallocate() }
            for n in 0..<g.batch {
                for group in 0..<g.group {
                    let image = x + (n * g.inChannels + group * cg) * inPlane
                    let output = y + (n * g.outChannels + group * mg) * outPlane
                    let source: UnsafePointer<Float>
                    if let columns {
                        im2col(image, g, into: columns)
                        source = UnsafePointer(columns)
                    } else {
                        source = image
                    }
                    if reduction == 0 {
                        output.update(repeating: 0, count: mg * outPlane)
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(outPlane), Int32(reduction),
                                    1, w + group * mg * reduction, Int32(reduction), source, Int32(outPlane), 0, output, Int32(outPlane))
                    }
                    if let bias {
                        for m in 0..<mg {
                            let value = bias[group * mg + m]
                            let row = output + m * outPlane
                            for i in 0..<outPlane { row[i] += value }
                        }
                    }
                }
            }
        }
    }

    /// Unfolds one group of one image into [C/group·kH·kW, outH·outW] columns (zeros for padding).
    private static func im2col(_ image: UnsafePointer<Float>, _ g: ConvOp.Geometry, into columns: UnsafeMutablePointer<Float>) {
        let outPlane = g.outH * g.outW
        var row = 0
        for c in 0..<g.inChannelsPerGroup {
            let plane = image + c * g.height * g.width
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    let target = columns + row * outPlane
                    for oh in 0..<g.outH {
                        let ih = oh * g.strides[0] - g.pads[0] + kh * g.dilations[0]
                        let line = target + oh * g.outW
                        guard ih >= 0, ih < g.height else { line.update(repeating: 0, count: g.outW); continue }
                        let source = plane + ih * g.width
                        for ow in 0..<g.outW {
                            let iw = ow * g.strides[1] - g.pads[1] + kw * g.dilations[1]
                            line[ow] = iw >= 0 && iw < g.width ? source[iw] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Writes C broadcast to [rows, columns] (C has rank ≤ 2, checked by shape inference).
    private static func broadcastFill(_ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                      from c: UnsafePointer<Float>, shape: [Int]) {
        let strides = Shape.broadcastStrides(shape, to: [rows, columns])
        for r in 0..<rows {
            for col in 0..<columns { y[r * columns + col] = c[r * strides[0] + col * strides[1]] }
        }
    }
}
