import ArgumentParser
import MemTypeEngine

#if canImport(Glibc)
import Glibc
#endif

/// `memtype`: the decision engine on the command line, and memtyped's client.
@main
struct Memtype: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "KVM guest memory-type decisions, and memtyped's VM records, from the command line.",
        discussion: """
            decide, table and models run the engine in this binary, or ask memtyped \
            when a server is named; vm, host, baselines, plan, placements and risks \
            talk to memtyped.

            Server: --server URL or MEMTYPE_SERVER; token: --token-file PATH or \
            MEMTYPE_TOKEN (writes need one).

            Register a VM and read back the quirk mask to apply at VM creation:
              export MEMTYPE_SERVER=http://127.0.0.1:8080 MEMTYPE_TOKEN=<write token>
              memtype host put spr --vendor intel --self-snoop --cpu 6:0x8f:8 --kernel 6.16
              memtype vm create web-01 --host-profile spr --display VGA --guest-kernel 6.1
              memtype vm kvm-quirks web-01 --format mask

            Output: a summary or table when stdout is a terminal, otherwise (or with \
            --json) the API's JSON body exactly. Errors: one line on stderr, the \
            problem's detail and pointer.

            \(ExitStatus.legend)

            Completions: memtype --generate-completion-script bash|zsh|fish (see the README).
            """,
        version: memtypedVersion,
        subcommands: [
            Decide.self, Table.self, Models.self, VMCommand.self, HostCommand.self, Baselines.self,
            Plan.self, Placements.self, Risks.self,
        ]
    )

    /// Also accepted before the subcommand (`memtype --server URL vm list`):
    /// ArgumentParser hands them to each command's own `ServerOptions`.
    @OptionGroup(title: "Server")
    var server: ServerOptions

    /// A command that ran but whose answer did not reach stdout fails (1).
    /// A reader that went away (EPIPE: `| head -1`) is told nothing more.
    private static func outputWritten() throws(Failure) {
        guard let code = Terminal.stdoutError else { return }
        if code == EPIPE { Glibc.exit(ExitStatus.outputFailed.rawValue) }
        throw Failure(status: .outputFailed, summary: "cannot write the output", detail: String(cString: strerror(code)))
    }

    /// ArgumentParser's main, with its usage errors (its exit code 64)
    /// mapped to `ExitStatus.badInput` and `Failure`s printed as one line.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
            try outputWritten()
        } catch let failure as Failure {
            Terminal.error(failure.line)
            Glibc.exit(failure.status.rawValue)
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            Terminal.error(fullMessage(for: error))
            Glibc.exit(ExitStatus.badInput.rawValue)
        }
    }
}
