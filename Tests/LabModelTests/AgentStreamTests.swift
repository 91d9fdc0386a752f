import Foundation
import Testing

@testable import LabModel

@Suite struct AgentStreamTests {
    @Test func parsesAWholeSession() {
        var parser = AgentStreamParser()
        var transcript = AgentTranscript()
        let stream = """
            GMLAB-AGENT {"event":"start","kernel":"6.1.0-56-amd64","vendor":"AuthenticAMD","cases":2}
            GMLAB-BEGIN smoke/kernel-version
            GMLAB-RESULT {"id":"smoke/kernel-version","status":"pass","message":"6.1.0-56-amd64","values":{"x":1},"duration_ms":12}
            GMLAB-BEGIN linear/cross-page-read
            GMLAB-RESULT {"id":"linear/cross-page-read","status":"fail","message":"byte 4096 differs"}
            GMLAB-AGENT {"event":"done"}

            """
        let events = parser.feed(stream) + parser.finish()
        transcript.apply(events)
        #expect(events.count == 6)
        #expect(
            events[0]
                == .started(
                    kernel: "6.1.0-56-amd64", vendor: "AuthenticAMD", caseCount: 2,
                    fields: [
                        "event": .string("start"), "kernel": .string("6.1.0-56-amd64"),
                        "vendor": .string("AuthenticAMD"), "cases": .number(2),
                    ]))
        #expect(events[1] == .begin(caseId: "smoke/kernel-version"))
        #expect(
            events[2]
                == .result(
                    AgentResult(
                        id: "smoke/kernel-version", status: .pass, message: "6.1.0-56-amd64",
                        values: ["x": .number(1)], durationMs: 12)))
        #expect(events[5] == .done)
        #expect(transcript.started && transcript.done)
        #expect(transcript.results.map(\.status) == [.pass, .fail])
        #expect(transcript.running == nil)
        #expect(transcript.problems.isEmpty)
    }

    @Test func incrementalFeedAcrossChunkBoundariesWithCRLF() {
        var parser = AgentStreamParser()
        let text = "GMLAB-BEGIN a/b\r\nGMLAB-RESULT {\"id\":\"a/b\",\"status\":\"skip\",\"message\":\"no svm\"}\r\n"
        var events: [AgentEvent] = []
        for byte in text.utf8 { events += parser.feed([byte]) }
        #expect(
            events == [
                .begin(caseId: "a/b"),
                .result(AgentResult(id: "a/b", status: .skip, message: "no svm", values: [:], durationMs: nil)),
            ])
        #expect(parser.finish() == [])
    }

    @Test func junkAndPrefixAfterJunk() {
        var parser = AgentStreamParser()
        let events = parser.feed("[    1.234] random kernel noise\n\u{0}\u{0}garbageGMLAB-BEGIN x/y\n\n   \n")
        #expect(events == [.noise(line: 1, text: "[    1.234] random kernel noise"), .begin(caseId: "x/y")])
    }

    @Test func garbageJSONIsAProtocolErrorNotACrash() {
        var parser = AgentStreamParser()
        let events = parser.feed(
            """
            GMLAB-RESULT {"id":"a","status":"pass"
            GMLAB-RESULT [1,2]
            GMLAB-RESULT {"id":"a","status":"maybe"}
            GMLAB-RESULT {"status":"pass"}
            GMLAB-RESULT {"id":"a","status":"pass","values":3}
            GMLAB-AGENT {"kernel":"x"}
            GMLAB-BEGIN
            GMLAB-BEGIN two words
            GMLAB-RESULT \u{FF}\u{FE}

            """)
        let problems = events.compactMap { event -> String? in
            if case .protocolError(_, _, let problem) = event { return problem }
            return nil
        }
        #expect(
            problems == [
                "bad JSON at column 26 of the payload: unexpected end of file inside an object",
                "expected a JSON object, got an array",
                #"GMLAB-RESULT for a: "status" must be one of pass, fail, skip, error, got "maybe""#,
                #"GMLAB-RESULT without a string "id""#,
                #"GMLAB-RESULT for a: "values" must be an object, got 3"#,
                #"GMLAB-AGENT without a string "event""#,
                "GMLAB-BEGIN needs exactly one case id",
                "GMLAB-BEGIN needs exactly one case id",
                "bad JSON at column 1 of the payload: unexpected character 'ÿ'; expected a value",
            ])
        #expect(events.count == 9)
    }

    @Test func invalidUTF8IsReplacedNotFatal() {
        var parser = AgentStreamParser()
        let events = parser.feed(
            Array("GMLAB-RESULT ".utf8) + [0xFF, 0xFE, 0x0A] + Array("GMLAB-BEGIN \u{E9}t\u{E9}/x\n".utf8))
        #expect(
            events == [
                .protocolError(
                    line: 1, text: "GMLAB-RESULT \u{FFFD}\u{FFFD}",
                    problem: "bad JSON at column 1 of the payload: unexpected character '\u{FFFD}'; expected a value"),
                .begin(caseId: "\u{E9}t\u{E9}/x"),
            ])
    }

    @Test func partialLastLine() {
        var parser = AgentStreamParser()
        #expect(parser.feed("GMLAB-BEGIN a/b\nGMLAB-RESULT {\"id\":\"a/b\",\"sta") == [.begin(caseId: "a/b")])
        let tail = parser.finish()
        guard case .protocolError(2, _, let problem)? = tail.first, tail.count == 1 else {
            Issue.record("expected one protocol error on line 2, got \(tail)")
            return
        }
        #expect(problem.hasSuffix("(the stream ended in the middle of this line)"))
        var complete = AgentStreamParser()
        _ = complete.feed("GMLAB-AGENT {\"event\":\"done\"}")
        #expect(complete.finish() == [.done])
    }

    @Test func transcriptNamesTheCaseThatKilledTheVM() {
        var transcript = AgentTranscript()
        var parser = AgentStreamParser()
        transcript.apply(
            parser.feed(
                """
                GMLAB-AGENT {"event":"start","cases":3}
                GMLAB-BEGIN a/1
                GMLAB-RESULT {"id":"a/1","status":"pass"}
                GMLAB-BEGIN a/2
                GMLAB-RESULT {"id":"a/1","status":"fail"}

                """))
        #expect(transcript.running == "a/2")
        #expect(!transcript.done)
        #expect(transcript.results.count == 1)
        #expect(transcript.problems == ["a second result for a/1 was ignored"])
    }

    @Test func overlongLineIsCut() {
        var parser = AgentStreamParser()
        let huge = "GMLAB-BEGIN " + String(repeating: "x", count: AgentStreamParser.maxLineBytes + 10) + "\n"
        let events = parser.feed(huge)
        guard case .begin(let id)? = events.first else {
            Issue.record("expected a begin event")
            return
        }
        #expect(id.utf8.count == AgentStreamParser.maxLineBytes - "GMLAB-BEGIN ".utf8.count)
    }
}
