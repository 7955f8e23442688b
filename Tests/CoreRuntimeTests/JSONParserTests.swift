import Testing
@testable import CoreRuntime

@Suite struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try JSONValue.parse($0, what: "test") }
    }

    func rejects(_ text: String, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parse(text)
            Issue.record("accepted \(text)", sourceLocation: sourceLocation)
        } catch let error as SwiftletError {
            #expect(error.message.contains(fragment), "'\(error.message)'", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func valuesRoundTripThroughTheSerializer() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} "#)
        #expect(value == .object(["a": .array([.int(1), .double(-2500), .bool(true), .bool(false), .null,
                                               .string("x\"\\/\u{08}\u{0C}\n\r\té😀")]), "b": .object([:])]))
        #expect(try parse(value.serialized) == value)
    }

    @Test func integersStayIntegers() throws {
        #expect(try parse("2") == .int(2))
        #expect(try parse("2.0") == .double(2))
        #expect(try parse("2.0").strictInt == nil)
        #expect(try parse("-9223372036854775808") == .int(Int.min))
    }

    @Test func malformedDocumentsAreRejected() {
        rejects(#"{"a": 1, "a": 2}"#, mentioning: "duplicate key 'a'")
        rejects("9223372036854775808", mentioning: "out of range")
        rejects("1e999", mentioning: "out of range")
        rejects("[1, 2", mentioning: "expected ']'")
        rejects("[1] x", mentioning: "after the JSON value")
        rejects("01", mentioning: "leading zero")
        rejects("\"\u{01}\"", mentioning: "control character")
        rejects(#""\ud800x""#, mentioning: "surrogate")
        rejects(String(repeating: "[", count: 1000), mentioning: "nesting")
        rejects("{1: 2}", mentioning: "string key")
        rejects("", mentioning: "end of JSON")
    }

    @Test func invalidUTF8IsRejected() throws {
        let bytes: [UInt8] = [0x22, 0xFF, 0x22]
        #expect(throws: SwiftletError.self) { try bytes.withUnsafeBytes { try JSONValue.parse($0, what: "test") } }
    }
}
