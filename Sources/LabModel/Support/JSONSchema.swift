import Foundation

/// A JSON Schema (draft 2020-12) validator for the subset the lab's own schemas use
/// (docs/schemas/results.schema.json and bench.schema.json): `type`, `const`, `enum`,
/// `required`, `properties`, `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`,
/// `minimum`, `minLength`, `pattern`, and `$ref` to `#/…` in the same file or `FILE#/…` beside it.
/// A keyword outside that subset is an error, so a schema never claims a check that is not made.
public struct JSONSchema: Sendable {
    /// A problem in the schema itself (unreadable, unknown keyword, dangling `$ref`).
    public struct SchemaError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Words that only annotate.
    static let annotations: Set<String> = ["$schema", "$id", "$defs", "title", "description"]
    static let keywords: Set<String> = [
        "type", "const", "enum", "required", "properties", "additionalProperties", "items", "oneOf", "anyOf", "allOf",
        "minimum", "minLength", "pattern", "$ref",
    ]

    let root: JSONValue
    let file: String
    let directory: URL

    /// Reads the schema at `url`; `$ref`s to other files resolve beside it.
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        do {
            root = try JSONDocumentParser.parse(data).value
        } catch {
            throw SchemaError(description: "\(url.path):\(error.line):\(error.column): \(error.message)")
        }
        file = url.lastPathComponent
        directory = url.deletingLastPathComponent()
    }

    /// The problems of `data` against the schema, each with its JSON path (`$.records[0].status:
    /// …`); empty when it validates. Throws when `data` is not JSON or the schema is broken.
    public func problems(in data: Data) throws -> [String] {
        let value: JSONValue
        do {
            value = try JSONDocumentParser.parse(data).value
        } catch {
            throw SchemaError(description: "not JSON: \(error.line):\(error.column): \(error.message)")
        }
        return try problems(in: value)
    }

    public func problems(in value: JSONValue) throws -> [String] {
        var context = Context(schemas: [file: root], directory: directory)
        var out: [String] = []
        try context.check(value, against: root, file: file, path: "$", problems: &out)
        return out
    }

    struct Context {
        var schemas: [String: JSONValue]
        let directory: URL

        mutating func resolve(_ reference: String, from file: String) throws -> (JSONValue, String) {
            let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
            let target = parts[0].isEmpty ? file : String(parts[0])
            if schemas[target] == nil {
                let url = directory.appendingPathComponent(target)
                guard let data = try? Data(contentsOf: url), let node = try? JSONDocumentParser.parse(data) else {
                    throw SchemaError(description: "$ref \(reference): cannot read \(url.path)")
                }
                schemas[target] = node.value
            }
            guard var node = schemas[target] else { throw SchemaError(description: "$ref \(reference): no schema") }
            let pointer = parts.count > 1 ? String(parts[1]) : ""
            for token in pointer.split(separator: "/") {
                let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = node[key] else { throw SchemaError(description: "$ref \(reference): no \(key)") }
                node = next
            }
            return (node, target)
        }

        static func typeName(_ value: JSONValue) -> String {
            switch value {
            case .null: return "null"
            case .bool: return "boolean"
            case .number(let n): return n == n.rounded() && n.isFinite ? "integer" : "number"
            case .string: return "string"
            case .array: return "array"
            case .object: return "object"
            }
        }

        static func matches(_ value: JSONValue, type: String) -> Bool {
            let actual = typeName(value)
            return actual == type || (type == "number" && actual == "integer")
        }

        mutating func check(
            _ value: JSONValue, against schema: JSONValue, file: String, path: String, problems: inout [String]
        ) throws {
            if case .bool(let allowed) = schema {
                if !allowed { problems.append("\(path): not allowed here") }
                return
            }
            guard case .object(let words) = schema else {
                throw SchemaError(description: "\(file): a schema at \(path) is not an object")
            }
            for key in words.keys where !JSONSchema.keywords.contains(key) && !JSONSchema.annotations.contains(key) {
                throw SchemaError(
                    description: "\(file): keyword \(key) (at \(path)) is not supported by this validator")
            }
            if case .string(let reference)? = words["$ref"] {
                let (target, targetFile) = try resolve(reference, from: file)
                try check(value, against: target, file: targetFile, path: path, problems: &problems)
            }
            if let type = words["type"] {
                let names: [String]
                switch type {
                case .string(let name): names = [name]
                case .array(let items): names = items.compactMap(\.stringValue)
                default: throw SchemaError(description: "\(file): bad type at \(path)")
                }
                guard names.contains(where: { Self.matches(value, type: $0) }) else {
                    problems.append("\(path): expected \(names.joined(separator: " or ")), got \(Self.typeName(value))")
                    return
                }
            }
            if let constant = words["const"], constant != value {
                problems.append("\(path): expected \(constant.compactText), got \(value.compactText)")
            }
            if case .array(let allowed)? = words["enum"], !allowed.contains(value) {
                problems.append(
                    "\(path): \(value.compactText) is not one of \(allowed.map(\.compactText).joined(separator: ", "))")
            }
            if case .number(let minimum)? = words["minimum"], case .number(let n) = value, n < minimum {
                problems.append(
                    "\(path): \(value.compactText) is below the minimum \(JSONValue.number(minimum).compactText)")
            }
            if case .string(let text) = value {
                if case .number(let minimum)? = words["minLength"], Double(text.count) < minimum {
                    problems.append("\(path): shorter than \(Int(minimum)) characters")
                }
                if case .string(let pattern)? = words["pattern"] {
                    let regex = try NSRegularExpression(pattern: pattern)
                    let range = NSRange(text.startIndex..., in: text)
                    if regex.firstMatch(in: text, range: range) == nil {
                        problems.append("\(path): \(value.compactText) does not match \(pattern)")
                    }
                }
            }
            if case .object(let members) = value {
                if case .array(let required)? = words["required"] {
                    for key in required.compactMap(\.stringValue) where members[key] == nil {
                        problems.append("\(path): missing key \(JSONValue.quoted(key))")
                    }
                }
                let properties: [String: JSONValue]
                if case .object(let declared)? = words["properties"] { properties = declared } else { properties = [:] }
                for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                    let memberPath = path + "." + key
                    if let property = properties[key] {
                        try check(member, against: property, file: file, path: memberPath, problems: &problems)
                    } else if let additional = words["additionalProperties"] {
                        if case .bool(false) = additional {
                            problems.append("\(path): key \(JSONValue.quoted(key)) is not in the schema")
                        } else {
                            try check(member, against: additional, file: file, path: memberPath, problems: &problems)
                        }
                    }
                }
            }
            if case .array(let elements) = value, let items = words["items"] {
                for (index, element) in elements.enumerated() {
                    try check(element, against: items, file: file, path: "\(path)[\(index)]", problems: &problems)
                }
            }
            if case .array(let all)? = words["allOf"] {
                for sub in all { try check(value, against: sub, file: file, path: path, problems: &problems) }
            }
            for (word, exactlyOne) in [("oneOf", true), ("anyOf", false)] {
                guard case .array(let choices)? = words[word] else { continue }
                var passing = 0
                var closest: [String]?
                for choice in choices {
                    var found: [String] = []
                    try check(value, against: choice, file: file, path: path, problems: &found)
                    if found.isEmpty {
                        passing += 1
                    } else if closest.map({ found.count < $0.count }) ?? true {
                        closest = found
                    }
                }
                if passing == 0 {
                    problems.append(
                        "\(path): matches none of the \(word) choices (closest: \((closest ?? []).joined(separator: "; ")))"
                    )
                } else if exactlyOne, passing > 1 {
                    problems.append("\(path): matches \(passing) of the oneOf choices, not exactly one")
                }
            }
        }
    }
}
