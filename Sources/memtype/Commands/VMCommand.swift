import ArgumentParser

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "VM records in memtyped's store: each VM's quirk choices pinned at creation.",
        discussion: """
            Register a VM and read back the quirk mask its VMM passes to \
            KVM_ENABLE_CAP(KVM_CAP_DISABLE_QUIRKS2):
              memtype vm create web-01 --host-profile spr --display VGA --guest-kernel 6.1
              memtype vm kvm-quirks web-01 --format mask
            """,
        subcommands: [
            VMGet.self, VMCreate.self, VMPatch.self, VMList.self, VMHistory.self, VMMove.self,
            VMDecision.self, VMKVMQuirks.self,
        ]
    )
}
