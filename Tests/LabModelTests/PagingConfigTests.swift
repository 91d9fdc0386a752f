import Foundation
import Testing

@testable import LabModel

/// The optional `matrix.paging` axis: values, defaults, errors with their JSON path or option,
/// and its agreement with the guest command line.
@Suite struct PagingConfigTests {
    let base = try! LabConfig.parse(Data(validConfigText.utf8))

    func withPaging(_ json: String) -> String {
        variant(#""vcpus": [1],"#, #""vcpus": [1], "paging": "# + json + ",")
    }

    @Test func absentMeansFourLevel() {
        #expect(base.matrix.paging == [.fourLevel])
    }

    @Test func bothModesInConfiguredOrder() throws {
        let config = try LabConfig.parse(Data(withPaging(#"["5-level", "4-level"]"#).utf8))
        #expect(config.matrix.paging == [.fiveLevel, .fourLevel])
        // jsonText writes the axis and reads it back.
        #expect(try LabConfig.parse(Data(config.jsonText().utf8)) == config)
    }

    @Test func repositoryDefaultRunsBothModes() throws {
        let url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("../../lab.json").standardized
        #expect(try LabConfig.load(from: url).matrix.paging == [.fiveLevel, .fourLevel])
    }

    @Test func badValuesNameTheirPath() {
        #expect(
            configIssues(withPaging(#"["5-level", "5lvl", 5, "5-level"]"#)) == [
                #"$.matrix.paging[1]: "5lvl" is not a paging mode; expected one of 4-level, 5-level"#,
                "$.matrix.paging[2]: expected a paging mode name (one of 4-level, 5-level), got 5",
                #"$.matrix.paging[3]: "5-level" is listed twice (also at [0])"#,
            ])
        #expect(configIssues(withPaging("[]")) == ["$.matrix.paging: empty; list at least one paging mode"])
        #expect(
            configIssues(withPaging(#""5-level""#)) == [
                #"$.matrix.paging: expected an array of paging modes, got "5-level""#
            ])
        #expect(
            configIssues(withPaging(#"["5-Level"]"#))
                == [
                    #"$.matrix.paging[0]: "5-Level" is not a paging mode; expected one of 4-level, 5-level (did you mean "5-level"?)"#
                ])
    }

    @Test func misspeltKeyIsCaught() {
        let issues = configIssues(variant(#""vcpus": [1],"#, #""vcpus": [1], "pagings": ["5-level"],"#))
        #expect(issues == [#"$.matrix: unknown key "pagings" (did you mean "paging"?)"#])
    }

    @Test func no5lvlInTheCommandLineContradictsFiveLevelCells() {
        let text = withPaging(#"["5-level"]"#).replacingOccurrences(of: "quiet\"", with: "quiet no5lvl\"")
        #expect(
            configIssues(text) == [
                #"$.guest.cmdline: "no5lvl" would make the 5-level cells of matrix.paging run 4-level; leave it out (the lab adds no5lvl to 4-level cells itself)"#
            ])
        // With 4-level cells only it is redundant, not wrong.
        let fourOnly = withPaging(#"["4-level"]"#).replacingOccurrences(of: "quiet\"", with: "quiet no5lvl\"")
        #expect((try? LabConfig.parse(Data(fourOnly.utf8))) != nil)
    }

    @Test func commandLineOverride() throws {
        let config = try base.applying(ConfigOverrides(paging: ["5-level,4-level"]))
        #expect(config.matrix.paging == [.fiveLevel, .fourLevel])
        #expect(try base.applying(ConfigOverrides(paging: ["5-level"])).matrix.paging == [.fiveLevel])
        #expect(!ConfigOverrides(paging: ["4-level"]).isEmpty)
        do {
            _ = try base.applying(ConfigOverrides(paging: ["4-level", "pae", "4-level"]))
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "command line")
            #expect(
                error.issues.map(\.description) == [
                    #"--paging: "pae" is not a paging mode; expected one of 4-level, 5-level"#,
                    #"--paging: "4-level" is listed twice"#,
                ])
        }
        var no5lvl = base
        no5lvl.guest.cmdline += " no5lvl"
        do {
            _ = try no5lvl.applying(ConfigOverrides(paging: ["5-level"]))
            Issue.record("expected an error")
        } catch {
            #expect(
                error.issues.map(\.description).first?.hasPrefix(#"--paging: "no5lvl" would make the 5-level cells"#)
                    == true)
        }
    }
}
