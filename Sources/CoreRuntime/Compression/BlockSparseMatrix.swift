/// A weight matrix [N, K] in block compressed sparse row form (BSR): the matrix is cut into
/// R×C blocks; only blocks with a nonzero are stored. CSR is the 1×1 case.
/// `rowPointers[b] ..< rowPointers[b+1]` index the stored blocks of block row b (rows b·R …),
/// `blockColumns[i]` is stored block i's column (in blocks), `values[i·R·C ..< (i+1)·R·C]` its
/// values row-major. Blocks on a ragged edge (N or K not a multiple of R or C) are padded with zeros.
public struct BlockSparseMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public let blockRows: Int
    public let blockColumns: Int
    public var rowPointers: [Int32]
    public var columnIndices: [Int32]
    public var values: [Float]

    public var blockRowCount: Int { (rows + blockRows - 1) / blockRows }
    public var blockColumnCount: Int { (columns + blockColumns - 1) / blockColumns }
    public var storedBlocks: Int { columnIndices.count }

    /// The blocks of `dense` (row-major [rows, columns]) that hold a nonzero.
    public init(rows: Int, columns: Int, block: (rows: Int, columns: Int), dense: UnsafeBufferPointer<Float>) {
        precondition(dense.count == rows * columns && block.rows > 0 && block.columns > 0)
        self.rows = rows
        self.columns = columns
        blockRows = block.rows
        blockColumns = block.columns
        rowPointers = [0]
        columnIndices = []
        values = []
        let (r, c) = block
        for blockRow in 0..<((rows + r - 1) / r) {
            for blockColumn in 0..<((columns + c - 1) / c) {
                var tile = [Float](repeating: 0, count: r * c)
                var nonzero = false
                for i in 0..<r where blockRow * r + i < rows {
                    for j in 0..<c where blockColumn * c + j < columns {
                        let value = dense[(blockRow * r + i) * columns + blockColumn * c + j]
                        tile[i * c + j] = value
                        nonzero = nonzero || value != 0
                    }
                }
                guard nonzero else { continue }
                columnIndices.append(Int32(blockColumn))
                values += tile
            }
            rowPointers.append(Int32(columnIndices.count))
        }
    }

    public init(rows: Int, columns: Int, block: (rows: Int, columns: Int), rowPointers: [Int32], columnIndices: [Int32], values: [Float]) {
        self.rows = rows
        self.columns = columns
        blockRows = block.rows
        blockColumns = block.columns
        self.rowPointers = rowPointers
        self.columnIndices = columnIndices
        self.values = values
    }

    /// Checks the index arrays (as read from a file) so kernels can trust them: row pointers
    /// start at 0, never decrease and end at the stored block count; column indices are in range
    /// and increase within a block row. Throws a message naming the first fault.
    public static func validate(rows: Int, columns: Int, block: (rows: Int, columns: Int),
                                rowPointers: UnsafeBufferPointer<Int32>, columnIndices: UnsafeBufferPointer<Int32>, valueCount: Int) throws {
        let blockRowCount = (rows + block.rows - 1) / block.rows, blockColumnCount = (columns + block.columns - 1) / block.columns
        guard rowPointers.count == blockRowCount + 1 else {
            throw SwiftletError.invalidModel("row pointers have \(rowPointers.count) entries; \(blockRowCount) block rows need \(blockRowCount + 1)")
        }
        guard valueCount == columnIndices.count * block.rows * block.columns else {
            throw SwiftletError.invalidModel("\(valueCount) values do not fill \(columnIndices.count) blocks of \(block.rows)×\(block.columns)")
        }
        guard rowPointers.first == 0, Int(rowPointers.last!) == columnIndices.count else {
            throw SwiftletError.invalidModel("row pointers must run from 0 to the block count \(columnIndices.count)")
        }
        for b in 0..<blockRowCount {
            let start = Int(rowPointers[b]), end = Int(rowPointers[b + 1])
            guard start <= end, end <= columnIndices.count else {
                throw SwiftletError.invalidModel("row pointers decrease at block row \(b)")
            }
            var previous = -1
            for i in start..<end {
                let column = Int(columnIndices[i])
                guard column > previous, column < blockColumnCount else {
                    throw SwiftletError.invalidModel("block row \(b): column index \(column) is out of range 0..<\(blockColumnCount) or not increasing")
                }
                previous = column
            }
        }
    }

    /// Another dense [rows, columns] array's elements at this matrix's stored positions, in the
    /// values' layout (zero for a block's padding past the matrix's edge).
    public func gather<T: Numeric>(_ dense: [T]) -> [T] {
        precondition(dense.count == rows * columns)
        var stored = [T](repeating: 0, count: values.count)
        let (r, c) = (blockRows, blockColumns)
        for blockRow in 0..<blockRowCount {
            for index in Int(rowPointers[blockRow])..<Int(rowPointers[blockRow + 1]) {
                let blockColumn = Int(columnIndices[index])
                for i in 0..<r where blockRow * r + i < rows {
                    for j in 0..<c where blockColumn * c + j < columns {
                        stored[(index * r + i) * c + j] = dense[(blockRow * r + i) * columns + blockColumn * c + j]
                    }
                }
            }
        }
        return stored
    }

    /// The dense matrix [rows, columns] (the reference kernels' view).
    public static func densify(rows: Int, columns: Int, block: (rows: Int, columns: Int), rowPointers: UnsafePointer<Int32>,
                               columnIndices: UnsafePointer<Int32>, values: UnsafePointer<Float>, into dense: UnsafeMutablePointer<Float>) {
        let (r, c) = block
        dense.update(repeating: 0, count: rows * columns)
        for blockRow in 0..<((rows + r - 1) / r) {
            for stored in Int(rowPointers[blockRow])..<Int(rowPointers[blockRow + 1]) {
                let blockColumn = Int(columnIndices[stored])
                for i in 0..<r where blockRow * r + i < rows {
                    for j in 0..<c where blockColumn * c + j < columns {
                        dense[(blockRow * r + i) * columns + blockColumn * c + j] = values[stored * r * c + i * c + j]
                    }
                }
            }
        }
    }
}
