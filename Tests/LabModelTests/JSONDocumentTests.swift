import Foundation
import Testing

@testable import LabModel

@Suite struct JSONDocumentTests {
    func syntaxError(_ text: String) -> String {
        do {
            _ = try JSONDocumentParser.parse(text)
            return "parsed"
        } catch {
            return "\(error.line):\(error.column) \(error.message)"
        }
    }

    @Test func parsesValuesWithPositionsAndOrder() throws {
        let node = try JSONDocumentParser.parse(
            "{\n  \"b\": [1, 2.5, -3e2],\n  \"a\": \"x\\u00e9\\ud83d\\ude00\\n\", \"c\": null, \"d\": false}")
        guard case .object(let members) = node.kind else {
            Issue.record("expected an object")
            return
        }
        #expect(members.map(\.key) == ["b", "a", "c", "d"])
        #expect(members[0].line == 2 && members[0].column == 3)
        #expect(members[1].value.value == .string("xé😀\n"))
        #expect(node.value["b"] == .array([.number(1), .number(2.5), .number(-300)]))
        guard case .array(let numbers) = members[0].value.kind else {
            Issue.record("expected an array")
            return
        }
        #expect(numbers.map(\.integerValue) == [1, nil, nil])
        #expect(node.value["c"] == .null && node.value["d"] == .bool(false))
    }

    @Test func syntaxErrorsArePrecise() {
        #expect(syntaxError("[01]") == "1:2 numbers must not have leading zeros")
        #expect(syntaxError("[1.]") == "1:4 expected a digit after the decimal point")
        #expect(syntaxError("{'a': 1}") == "1:2 unexpected character '''; expected a key in double quotes")
        #expect(syntaxError("['a']") == "1:2 strings must use double quotes")
        #expect(syntaxError("[\"\\x\"]") == "1:3 invalid escape '\\x' in a string")
        #expect(syntaxError("[\"\\ud800\"]") == "1:9 unpaired UTF-16 surrogate in \\u escape")
        #expect(syntaxError("[\"a\nb\"]") == "1:4 unterminated string (a newline inside a string must be written \\n)")
        #expect(syntaxError("{} {}") == "1:4 unexpected character '{' after the end of the JSON value")
        #expect(syntaxError("[tru]") == "1:2 unexpected character 't'; expected a value")
        #expect(syntaxError("{\"a\" 1}") == "1:6 unexpected character '1'; expected ':' after key \"a\"")
        #expect(syntaxError("[1 2]") == "1:4 unexpected character '2'; expected ',' or ']'")
        #expect(syntaxError("[1e999]") == "1:2 number 1e999 is out of range")
        #expect(syntaxError(String(repeating: "[", count: 300)) == "1:201 nesting deeper than 200 levels")
    }

    @Test func invalidUTF8IsReported() {
        do {
            _ = try JSONDocumentParser.parse(Data([0x7B, 0xFF, 0x7D]))
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "the file is not valid UTF-8")
        }
    }

    @Test func jsonValueCompactTextAndCodable() throws {
        let value = JSONValue.object(["b": .array([.number(1), .number(2.5), .null]), "a": .string("q\"\u{1}")])
        #expect(value.compactText == #"{"a":"q\"\u0001","b":[1,2.5,null]}"#)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(value.compactText.utf8))
        #expect(decoded == value)
    }
}
