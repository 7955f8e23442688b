import CBLAS
import CKernels
import CoreRuntime

/// Gemm, MatMul and Conv on OpenBLAS sgemm.
enum BLASKernels {
    /// OpenBLAS takes 32-bit sizes; a product beyond that is refused when the plan is made.
    static func blasSize(_ value: Int, _ what: String) throws -> Int32 {
        guard let size = Int32(exactly: value) else {
            throw SwiftletError.unsupported("\(what) \(value) exceeds OpenBLAS's 32-bit sizes")
        }
        return size
    }

    /// A window size for the C kernels' 32-bit geometry fields; larger ones are refused at plan time.
    static func int32(_ value: Int, _ what: String) throws -> Int32 {
        guard let narrow = Int32(exactly: value) else { throw SwiftletError.unsupported("\(what) \(value) exceeds 32 bits") }
        return narrow
    }

    static func gemm(_ op: GemmOp, _ inputs: [TensorType?], constants: ConstantInputs, threads: Int) throws -> Kernel {
        let (m, k, n) = try op.dimensions(inputs)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        let lda = Int32(inputs[0]!.shape[1]), ldb = Int(inputs[1]!.shape[1])
        let transA = op.transA ? CblasTrans : CblasNoTrans, transB = op.transB ? CblasTrans : CblasNoTrans
        let cShape = inputs[2]?.shape
        let alpha = op.alpha, beta = op.beta, clamp = op.clamp
        // Each thread computes its own output columns: column j of B starts j elements into B,
        // or j rows when B is stored transposed.
        let split = ColumnSplit(columns: n, threads: threads, workPerColumn: m * k, granularity: 16)
        if let packed = packedLinearForm(op, inputs, m: m, n: n, constants: constants) {
            return { args in
                let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
                guard n > 0 else { return }
                split.run { _, columns in
                    swk_linear_packed(x, Int64(m), Int64(k), packed.panels, Int64(n), Int64(columns.lowerBound),
                                      Int64(columns.upperBound), bias, y)
                    for row in 0..<m { clamp.apply(y + row * n + columns.lowerBound, count: columns.count) }
                }
            }
        }
        let columnStep = op.transB ? ldb : 1
        return { args in
            let y = args.output(0)
            guard m > 0, n > 0 else { return }
            split.run { _, columns in
                let yPart = y + columns.lowerBound, width = columns.count
                var blasBeta: Float = 0
                if let cShape, let c = args.optionalInput(2), beta != 0 {
                    // Y starts as broadcast C; sgemm then adds alpha·A·B to beta·Y.
                    broadcastFill(y, rows: m, columns: n, from: c, shape: cShape, only: columns)
                    blasBeta = beta
                }
                if k == 0 {
                    // An empty product: Y = beta·C, or zeros (the arena holds an earlier run's bytes).
                    for row in 0..<m {
                        let line = yPart + row * n
                        if blasBeta == 0 { line.update(repeating: 0, count: width) } else { for i in 0..<width { line[i] *= blasBeta } }
                    }
                } else if m == 1 {
                    // A classifier's product: A is one row, contiguous whether transposed or not.
                    rowTimesMatrix(args.input(0), k: k, width: width, alpha: alpha, args.input(1) + columns.lowerBound * columnStep,
                                   ldw: Int32(ldb), transposed: op.transB, beta: blasBeta, yPart)
                } else {
                    cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(width), Int32(k), alpha,
                                args.input(0), lda, args.input(1) + columns.lowerBound * columnStep, Int32(ldb), blasBeta, yPart, Int32(n))
                }
                for row in 0..<m { clamp.apply(yPart + row * n, count: width) }
            }
        }
    }

    /// B packed as a linear layer's W when this Gemm is one, Y = A·B(ᵀ) + c: A not transposed,
    /// alpha 1, B a float constant, C absent or (with beta 1) one row of N values, 2 to
    /// `packedRowsLimit` rows and at least 16 columns. Such a Gemm then runs on the packed tiles
    /// with C in their epilogue, as `linear` does, where sgemm (OpenBLAS copying B on every call)
    /// had Y filled with C first: the digits MLP (64→64→32, then 32→10 on sgemm) at batch 360 took
    /// 0.176-0.180 ms a run on sgemm and 0.116-0.119 on the tiles, 0.108-0.180 and 0.077-0.083 on
    /// two threads, at batch 32 0.013-0.024 and 0.009-0.010 (`swiftlet bench`, the two builds
    /// alternated). Narrower layers stay on sgemm: their tiles load and store masked throughout,
    /// and the digits CNN's 256→10 layer ran 1.6-2.5× slower on them. One row keeps
    /// `rowTimesMatrix`, which reads B in place (a classifier at batch 1: no second copy of it).
    private static func packedLinearForm(_ op: GemmOp, _ inputs: [TensorType?], m: Int, n: Int,
                                         constants: ConstantInputs) -> PackedLinearWeights? {
        guard (2..<packedRowsLimit).contains(m), n >= 16, !op.transA, op.alpha == 1, inputs[1]?.dtype == .f32 else {
            return nil
        }
        if let c = inputs[2] {
            guard op.beta == 1, c.dtype == .f32, c.shape.last == n, c.shape.reduce(1, *) == n else { return nil }
        }
        return constants.layout(of: 1, PackedLinearWeights.layout(transposed: op.transB)) {
            PackedLinearWeights($0, transposed: op.transB)
        }
    }

    static func matMul(_ inputs: [TensorType?], threads: Int) throws -> Kernel {
        let g = try MatMulOp.geometry(inputs[0]!, inputs[1]!)
        let (m, k, n) = (g.m, g.k, g.n)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        if g.isSharedRightOperand { _ = try blasSize(g.batchCount * m, "batch·M") }
        // Every product is split by output columns across the threads.
        let rows = g.isSharedRightOperand ? g.batchCount * m : m
        let split = ColumnSplit(columns: n, threads: threads, workPerColumn: rows * k, granularity: 16)
        return { args in
            let a = args.input(0), b = args.input(1), y = args.output(0)
            guard m > 0, n > 0, g.batchCount > 0 else { return }
            guard k > 0 else { y.update(repeating: 0, count: g.batchCount * m * n); return }
            func multiply(_ rows: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
                split.run { _, columns in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(columns.count), Int32(k),
                                1, a, Int32(k), b + columns.lowerBound, Int32(n), 0, y + columns.lowerBound, Int32(n))
                }
            }
            if g.isSharedRightOperand {
                // [batch·M, K] × [K, N] as one product: far better blocking than per-batch calls.
                return multiply(g.batchCount * m, a, b, y)
            }
            g.forEachBatch { yMatrix, aMatrix, bMatrix in
                multiply(m, a + aMatrix * m * k, b + bMatrix * k * n, y + yMatrix * m * n)
            }
        }
    }

    /// Scratch for one convolution call is capped near this many floats (16 MiB): images are
    /// unfolded in chunks that fit, so large batches do not need one huge buffer.
    static let convolutionScratchFloats = 4 << 20

    /// A convolution on the kernel its shape runs fastest on: depthwise, pointwise, Winograd, the
    /// shallow blocks, the direct tiles, the panels, or im2col + sgemm. A residual Z of the
    /// convolution's own shape is added in the kernel's epilogue (all but the depthwise kernel's);
    /// any other Z by a pass after it.
    static func conv(_ op: ConvOp, _ inputs: [TensorType?], constants: ConstantInputs, threads: Int) throws -> PreparedKernel {
        let g = try op.geometry(inputs)
        let residual = try op.residual(inputs, g)
        if let residual, !residual.isElementwise || g.isDepthwise {
            return addingResidual(residual, to: try convolution(op.withoutClamp, g, inputs, constants: constants, threads: threads,
                                                                addsResidual: false))
        }
        return try convolution(op, g, inputs, constants: constants, threads: threads, addsResidual: residual != nil)
    }

    /// The kernel of `conv`; with `addsResidual` it adds Z (input `ConvOp.residualInput`, the
    /// convolution's shape) before the clamp.
    private static func convolution(_ op: ConvOp, _ g: ConvOp.Geometry, _ inputs: [TensorType?], constants: ConstantInputs,
                                    threads: Int, addsResidual: Bool) throws -> PreparedKernel {
        if g.isDepthwise {
            precondition(!addsResidual, "the depthwise kernel takes its residual in a pass after it")
            return try depthwise(op, g, threads: threads)
        }
        if takesPointwise(g) { return pointwiseConv(op, g, threads: threads, addsResidual: addsResidual) }
        if takesWinograd(g, inputs), let packed = packedWeights(.winograd, g, constants) {
            return try winogradConv(op, g, packed: packed, threads: threads, addsResidual: addsResidual)
        }
        if takesShallow(g, inputs), let packed = packedWeights(.shallow, g, constants) {
            return try shallowConv(op, g, packed: packed, threads: threads, addsResidual: addsResidual)
        }
        if takesDirect(g, inputs), let packed = packedWeights(.direct, g, constants) {
            return try directConv(op, g, packed: packed, threads: threads, addsResidual: addsResidual)
        }
        if try takesPanels(g, threads: threads) { return try panelConv(op, g, threads: threads, addsResidual: addsResidual) }
        if takesSmallPlane(g) { return try smallPlaneConv(op, g, threads: threads, addsResidual: addsResidual) }
        return try im2colConv(op, g, threads: threads, addsResidual: addsResidual)
    }

    /// W (input 1) packed for `scheme`'s kernel, once per store; nil when W is not a constant.
    static func packedWeights(_ scheme: PackedConvWeights.Scheme, _ g: ConvOp.Geometry,
                                      _ constants: ConstantInputs) -> PackedConvWeights? {
        constants.layout(of: 1, PackedConvWeights.layout(scheme, group: g.group)) {
            PackedConvWeights($0, group: g.group, scheme: scheme)
        }
    }

    /// Convolution as im2col + one product per chunk of images and group (split by output
    /// column over the threads), for the shapes no CKernels convolution takes (few output
    /// channels onto planes larger than `takesSmallPlane`'s, and where neither the direct tiles nor the panels take one: 1×1 stride-1 ones
    /// the pointwise and direct tiles leave, and on one thread planes under
    /// `panelsAlonePositions`): the images of a chunk are unfolded side by side into
    /// [C/group·kH·kW, images·outH·outW] columns, so small images
    /// make one large multiplication instead of many tiny ones (measured: the digits CNN at
    /// batch 360 ran 360 sgemms of N = 64 per layer). A 1×1 stride-1 unpadded convolution of one
    /// image multiplies the input directly.
    private static func im2colConv(_ op: ConvOp, _ g: ConvOp.Geometry, threads: Int, addsResidual: Bool) throws -> PreparedKernel {
        let pointwise = isPointwise(g)
        let outPlane = g.outH * g.outW, inPlane = g.height * g.width
        let (mg, cg, reduction) = (g.outChannelsPerGroup, g.inChannelsPerGroup, g.reduction)
        _ = try (blasSize(reduction, "C/group·kH·kW"), blasSize(outPlane, "outH·outW"))
        let clamp = op.clamp
        let perImage = (reduction + mg) * outPlane
        let chunk = max(1, min(g.batch, convolutionScratchFloats / max(perImage, 1)))
        // One image at a time writes straight into Y; a chunk multiplies into scratch first and is
        // then scattered image by image into NCHW order.
        let direct = chunk == 1
        let columnFloats = direct && pointwise ? 0 : reduction * outPlane * chunk
        let productFloats = direct ? 0 : mg * outPlane * chunk
        // Threads split the unfolding by input channel and the product, with its epilogue, by
        // output column (for the last, shorter chunk of images too).
        func columnSplit(_ images: Int) -> ColumnSplit {
            ColumnSplit(columns: images * outPlane, threads: threads, workPerColumn: mg * reduction, granularity: 16)
        }
        let (fullChunk, lastChunk) = (columnSplit(chunk), columnSplit(g.batch % chunk == 0 ? chunk : g.batch % chunk))
        let unfoldSplit = ColumnSplit(columns: cg, threads: threads, workPerColumn: g.kernelH * g.kernelW * outPlane * chunk)
        return PreparedKernel(scratchBytes: (columnFloats + productFloats) * MemoryLayout<Float>.size) { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            guard outPlane > 0, g.outChannels > 0 else { return }
            let scratch = args.scratch?.assumingMemoryBound(to: Float.self)
            let columns = scratch, product = scratch.map { $0 + columnFloats }
            for first in stride(from: 0, to: g.batch, by: chunk) {
                let count = min(chunk, g.batch - first)
                let width = count * outPlane
                for group in 0..<g.group {
                    func image(_ n: Int) -> UnsafePointer<Float> { x + (n * g.inChannels + group * cg) * inPlane }
                    let source: UnsafePointer<Float>
                    if direct && pointwise || reduction == 0 {
                        source = image(first)  // (with no input channels nothing reads it: no scratch either)
                    } else {
                        unfoldSplit.run { _, channels in
                            for i in 0..<count {
                                im2col(image(first + i), g, channels: channels, into: columns! + i * outPlane, rowStride: width)
                            }
                        }
                        source = UnsafePointer(columns!)
                    }
                    let target = direct ? y + (first * g.outChannels + group * mg) * outPlane : product!
                    let weights = w + group * mg * reduction, biases = bias.map { $0 + group * mg }
                    (count == chunk ? fullChunk : lastChunk).run { _, part in
                        if reduction == 0 {
                            for m in 0..<mg { (target + m * width + part.lowerBound).update(repeating: 0, count: part.count) }
                        } else {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(part.count), Int32(reduction),
                                        1, weights, Int32(reduction), source + part.lowerBound, Int32(width), 0,
                                        target + part.lowerBound, Int32(width))
                        }
                        // The epilogue, while this thread's columns are in its cache. A chunk of
                        // several images is then scattered into NCHW order, the residual added
                        // and the clamp applied on the way.
                        for m in 0..<mg {
                            let residual = direct ? z.map { $0 + (first * g.outChannels + group * mg + m) * outPlane + part.lowerBound } : nil
                            epilogue(target + m * width + part.lowerBound, count: part.count, bias: biases?[m] ?? 0,
                                     z != nil && !direct ? .none : clamp, residual: residual)
                        }
                    }
                    if !direct {
                        for i in 0..<count {
                            for m in 0..<mg {
                                let offset = ((first + i) * g.outChannels + group * mg + m) * outPlane
                                let source = product! + m * width + i * outPlane
                                if let z {
                                    for p in 0..<outPlane { y[offset + p] = clamp.apply(source[p] + z[offset + p]) }
                                } else {
                                    (y + offset).update(from: source, count: outPlane)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds a convolution's bias (and a residual's `count` values) to `count` outputs and applies
    /// its fused clamp.
    private static func epilogue(_ row: UnsafeMutablePointer<Float>, count: Int, bias: Float, _ clamp: FusedClamp,
                                 residual: UnsafePointer<Float>?) {
        if let residual {
            // No bias is no addition (adding +0 would turn a −0 sum into +0), as without Z.
            if bias == 0 {
                for p in 0..<count { row[p] = clamp.apply(row[p] + residual[p]) }
            } else {
                for p in 0..<count { row[p] = clamp.apply(row[p] + bias + residual[p]) }
            }
        } else if clamp.isNone {
            if bias != 0 { for p in 0..<count { row[p] += bias } }
        } else {
            for p in 0..<count { row[p] = clamp.apply(row[p] + bias) }
        }
    }

    /// Unfolds input channels `channels` of one group of one image into rows of `columns`,
    /// `rowStride` apart: row (c, kh, kw) holds the input value under that kernel tap for every output position, zero
    /// where the tap falls in padding. Each row's in-bounds output columns are computed once, so
    /// the inner loop is a copy. (callgrind on the digits CNN at batch 360: a bounds test per
    /// element cost ~30 instructions per float, 6x the sgemm that follows; a memset/memcpy per
    /// 4-to-8-float line still cost ~3x; plain loops bring it near the copy's own cost.)
    private static func im2col(_ image: UnsafePointer<Float>, _ g: ConvOp.Geometry, channels: Range<Int>,
                               into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
        let (height, width, outH, outW) = (g.height, g.width, g.outH, g.outW)
        let (strideH, strideW) = (g.strides[0], g.strides[1])
        let (padTop, dilationH) = (g.pads[0], g.dilations[0])
        var row = columns + channels.lowerBound * g.kernelH * g.kernelW * rowStride
        for c in channels {
            let plane = image + c * height * width
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    let (offset, first, end) = g.inputColumns(kw: kw)
                    for oh in 0..<outH {
                        let line = row + oh * outW
                        let ih = oh * strideH - padTop + kh * dilationH
                        guard ih >= 0, ih < height else { line.update(repeating: 0, count: outW); continue }
                        // Plain loops, not memset/memcpy: lines are often a few floats long,
                        // where a call costs more than the copy (and long ones still vectorize).
                        let source = plane + ih * width + offset
                        for ow in 0..<first { line[ow] = 0 }
                        if strideW == 1 {
                            for ow in first..<end { line[ow] = source[ow] }
                        } else {
                            for ow in first..<end { line[ow] = source[ow * strideW] }
                        }
                        for ow in end..<outW { line[ow] = 0 }
                    }
                    row += rowStride
                }
            }
        }
    }

    /// Depthwise convolution (one filter per channel: group = C = M) in CKernels
    /// (depthwise_conv.c: with AVX2, kernels 3 columns wide, undilated across, at column stride 2
    /// straight from each plane's rows, on rows of 56+ outputs with a left pad of at most 1 and no
    /// right pad read; otherwise 8 channels side by side in a vector's lanes on small planes, on
    /// strided ones and, for kernels 3 columns wide, on planes up to 4 MiB of its scratch;
    /// otherwise each channel's input split into stride phases; every tap is a vector multiply-add).
    /// im2col + sgemm would run one M = 1 multiplication per channel. Planes (image, channel) are
    /// split across the session's threads.
    static func depthwise(_ op: ConvOp, _ g: ConvOp.Geometry, threads: Int) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let planes = g.batch * g.inChannels
        guard planes > 0, g.outH > 0, g.outW > 0 else { return PreparedKernel { _ in } }
        let scratchFloats = withUnsafePointer(to: geometry) { Int(swk_depthwise_scratch_floats($0)) }
        // Each multiply-add counts as 4 of a product's: MobileNetV2's depthwise layers run at 6-19
        // GFLOP/s on one thread where its 1×1 ones run at 33-42, and counted as 1, its 7×7 and
        // 14×14 stride-2 layers stayed on one thread (two threads: p50 12.0-12.1 ms against
        // 12.6-13.4 before, `swiftlet bench … --threads 2`).
        let split = ColumnSplit(columns: planes, threads: threads,
                                workPerColumn: 4 * g.outH * g.outW * g.kernelH * g.kernelW)
        let (channels, clamp) = (Int64(g.inChannels), op.clamp)
        return PreparedKernel(scratchBytes: split.ranges.count * scratchFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            // nil where the path needs none (strided rows).
            let scratch = args.scratch?.assumingMemoryBound(to: Float.self)
            split.run { part, range in
                withUnsafePointer(to: geometry) { geometry in
                    swk_depthwise_conv(geometry, channels, Int64(range.lowerBound), Int64(range.upperBound), x, w, bias,
                                       clamp.min, clamp.max, scratch.map { $0 + part * scratchFloats }, y)
                }
            }
        }
    }

    /// Writes C broadcast to [rows, columns], in columns `only` (C has rank ≤ 2, checked by shape inference).
    private static func broadcastFill(_ y: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                                      from c: UnsafePointer<Float>, shape: [Int], only: Range<Int>) {
        let strides = Shape.broadcastStrides(shape, to: [rows, columns])
        for r in 0..<rows {
            for col in only { y[r * columns + col] = c[r * strides[0] + col * strides[1]] }
        }
    }
}

extension ConvOp.Geometry {
    /// Units laid end to end, `unitsEach` per owner (an image, an (image, group) pair): calls
    /// `body(owner, units)` once per owner that `units` touches, with that owner's part of them
    /// (numbered from 0 within the owner).
    static func forEachOwner(in units: Range<Int>, unitsEach: Int, _ body: (Int, Range<Int>) -> Void) {
        var unit = units.lowerBound
        while unit < units.upperBound {
            let (owner, first) = unit.quotientAndRemainder(dividingBy: unitsEach)
            let end = min(unitsEach, first + units.upperBound - unit)
            body(owner, first..<end)
            unit += end - first
        }
    }

    /// A convolution's work cut into `unitsEach` units (tiles, panels) per (image, group), laid
    /// end to end: calls `body(image, group, units)` once per (image, group) that `units` touches,
    /// with that pair's part of them (numbered from 0 within the pair).
    func forEachImageAndGroup(in units: Range<Int>, unitsEach: Int, _ body: (Int, Int, Range<Int>) -> Void) {
        Self.forEachOwner(in: units, unitsEach: unitsEach) { pair, range in
            let (image, group) = pair.quotientAndRemainder(dividingBy: self.group)
            body(image, group, range)
        }
    }

    /// The sizes the plane-wise C kernels take (depthwise_conv.c, pattern_conv.c); kernel, strides,
    /// pads and dilations past Int32 are refused at plan time.
    func planeGeometry() throws -> swk_conv_geometry {
        swk_conv_geometry(
            height: Int64(height), width: Int64(width), out_h: Int64(outH), out_w: Int64(outW),
            kernel_h: try BLASKernels.int32(kernelH, "Conv kernel height"), kernel_w: try BLASKernels.int32(kernelW, "Conv kernel width"),
            stride_h: try BLASKernels.int32(strides[0], "Conv stride"), stride_w: try BLASKernels.int32(strides[1], "Conv stride"),
            pad_top: try BLASKernels.int32(pads[0], "Conv pad"), pad_left: try BLASKernels.int32(pads[1], "Conv pad"),
            dilation_h: try BLASKernels.int32(dilations[0], "Conv dilation"), dilation_w: try BLASKernels.int32(dilations[1], "Conv dilation"))
    }

    /// For kernel column `kw`: output column ow reads input column ow·strideW + offset, which is
    /// inside the image exactly for ow in first..<end (the rest reads padding).
    func inputColumns(kw: Int) -> (offset: Int, first: Int, end: Int) {
        // ⌈a / b⌉ for b > 0 (Swift's division truncates toward zero, which is ⌈⌉ for a < 0).
        func ceilDiv(_ a: Int, _ b: Int) -> Int { a > 0 ? (a + b - 1) / b : a / b }
        let offset = kw * dilations[1] - pads[1]
        let first = min(outW, max(0, ceilDiv(-offset, strides[1])))
        let end = max(first, min(outW, ceilDiv(width - offset, strides[1])))
        return (offset, first, end)
    }
}
