/// A parsed JSON document. Model headers and graphs are decoded into this first and then read
/// field by field, so every validation message can name the exact tensor, node or field.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses UTF-8 JSON text; `what` names the document in the error.
    public static func parse(_ bytes: UnsafeRawBufferPointer, what: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw SwiftletError.invalidModel("\(what) is not valid JSON: \(error.message)")
        }
    }

    public var object: [String: JSONValue]? { if case .object(let v) = self { v } else { nil } }
    public var array: [JSONValue]? { if case .array(let v) = self { v } else { nil } }
    public var string: String? { if case .string(let v) = self { v } else { nil } }
    /// An integer, also from an integral float such as `2.0` (graph attributes written by
    /// tools that print every number as a float).
    public var int: Int? {
        switch self {
        case .int(let v): v
        case .double(let v) where v.rounded() == v && abs(v) < 9.0e15: Int(v)
        default: nil
        }
    }
    /// Only a JSON integer literal (file headers: safetensors requires integers).
    public var strictInt: Int? { if case .int(let v) = self { v } else { nil } }

    public var double: Double? {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// Compact JSON text, keys sorted so identical models serialize identically.
    public var serialized: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return v ? "true" : "false"
        case .int(let v): return String(v)
        case .double(let v):
            if v.isNaN { return "\"NaN\"" }
            if v.isInfinite { return v > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
            return "\(v)"
        case .string(let v): return Self.quoted(v)
        case .array(let items): return "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.keys.sorted().map { Self.quoted($0) + ":" + fields[$0]!.serialized }
                .joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
