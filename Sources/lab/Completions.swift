import ArgumentParser
import Foundation
import LabKit
import LabModel

/// Shell completion of option values (`lab --generate-completion-script bash|zsh|fish`;
/// docs/running.md "Shell completion"). Suites, case ids and cell ids come from `lab` itself at TAB time
/// (`CompletionCandidates`: the cache's newest catalog, results/latest and lab.json), never
/// from a build or a host probe.
enum LabCompletion {
    static let backends = CompletionKind.list(Backend.allCases.map(\.rawValue))
    static let hosts = CompletionKind.list(HostRequest.allNames + [BoxHostShortcut.name])
    static let paging = CompletionKind.list(PagingMode.allCases.map(\.rawValue))
    static let policies = CompletionKind.list(HypervisorPolicy.allCases.map(\.rawValue))
    static let methods = CompletionKind.list(BenchMethod.allCases.map(\.rawValue))
    static let directions = CompletionKind.list(BenchDirection.allCases.map(\.rawValue))
    static let jsonFile = CompletionKind.file(extensions: ["json"])

    static let suites = CompletionKind.custom { words, _, _ in
        CompletionCandidates.forCommandLine(words)?.suites() ?? []
    }
    static let caseIds = CompletionKind.custom { words, _, _ in
        CompletionCandidates.forCommandLine(words)?.caseIds() ?? []
    }
    static let kernels = CompletionKind.custom { words, _, _ in
        CompletionCandidates.forCommandLine(words)?.kernels() ?? ["debian"]
    }
    static let cellIds = CompletionKind.custom { words, _, _ in
        CompletionCandidates.forCommandLine(words)?.cellIds() ?? []
    }
    /// `--only` / `--skip`: case ids, `suite/*` and cell ids.
    static let patterns = CompletionKind.custom { words, _, _ in
        CompletionCandidates.forCommandLine(words)?.patterns() ?? []
    }
}
