import Foundation

/// Checks a JSON value against the subset of JSON Schema (2020-12) that facejnd's schemas use: type, const, enum,
/// required, properties, additionalProperties: false, items, minItems, maxItems, minimum, maximum and local
/// `$ref`s into `$defs`. Returns every violation as "path: problem" (empty: the document conforms).
public struct JSONSchemaCheck {
    let root: [String: Any]

    public init(schemaFile: URL) throws {
        guard let s = try JSONSerialization.jsonObject(with: Data(contentsOf: schemaFile)) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        root = s
    }

    public func violations(of document: Data) throws -> [String] {
        let value = try JSONSerialization.jsonObject(with: document, options: [.fragmentsAllowed])
        var out: [String] = []
        check(value, against: root, path: "$", into: &out)
        return out
    }

    private func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let ref = schema["$ref"] as? String, ref.hasPrefix("#/$defs/"),
            let defs = root["$defs"] as? [String: Any], let target = defs[String(ref.dropFirst(8))] as? [String: Any]
        else { return schema }
        return target
    }

    private static func typeName(_ v: Any) -> String {
        switch v {
        case is NSNull: return "null"
        case let n as NSNumber:
            if String(describing: type(of: n)).contains("Boolean") { return "boolean" }
            return ["f", "d"].contains(String(cString: n.objCType)) ? "number" : "integer"
        case is String: return "string"
        case is [Any]: return "array"
        case is [String: Any]: return "object"
        default: return "unknown"
        }
    }

    private func check(_ value: Any, against raw: [String: Any], path: String, into out: inout [String]) {
        let schema = resolve(raw)
        let actual = Self.typeName(value)
        if let t = schema["type"] as? String {
            let ok = t == actual || (t == "number" && actual == "integer")
            if !ok { out.append("\(path): expected \(t), found \(actual)"); return }
        }
        func same(_ a: Any, _ b: Any) -> Bool { String(describing: a) == String(describing: b) }
        if let c = schema["const"], !same(value, c) { out.append("\(path): expected \(c)") }
        if let e = schema["enum"] as? [Any], !e.contains(where: { same($0, value) }) {
            out.append("\(path): \(value) is not one of \(e)")
        }
        if let n = value as? NSNumber, actual != "boolean" {
            if let lo = (schema["minimum"] as? NSNumber)?.doubleValue, n.doubleValue < lo { out.append("\(path): \(n) < \(lo)") }
            if let hi = (schema["maximum"] as? NSNumber)?.doubleValue, n.doubleValue > hi { out.append("\(path): \(n) > \(hi)") }
        }
        if let obj = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where obj[key] == nil { out.append("\(path): missing \(key)") }
            let props = schema["properties"] as? [String: Any] ?? [:]
            for (key, v) in obj {
                if let sub = props[key] as? [String: Any] {
                    check(v, against: sub, path: "\(path).\(key)", into: &out)
                } else if (schema["additionalProperties"] as? Bool) == false {
                    out.append("\(path): unexpected property \(key)")
                }
            }
        }
        if let arr = value as? [Any] {
            if let lo = schema["minItems"] as? Int, arr.count < lo { out.append("\(path): fewer than \(lo) items") }
            if let hi = schema["maxItems"] as? Int, arr.count > hi { out.append("\(path): more than \(hi) items") }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in arr.enumerated() { check(v, against: items, path: "\(path)[\(i)]", into: &out) }
            }
        }
    }
}
