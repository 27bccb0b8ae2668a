/// The decision: KVM's EPT memory type and IPAT for one guest access, the
/// guest PAT type, and the effective type the CPU uses, with the rules that
/// fired. Pure: no I/O, no global state, no allocation on the common path.
public enum DecisionEngine {
    /// Decides one access. Call `request.validate()` first; an unvalidated
    /// request still gets an answer, but may describe impossible hardware.
    public static func decide(_ request: DecisionRequest) -> Decision {
        let model = request.kernel.model
        let host = request.host, vm = request.vm, vcpu = request.vcpu, access = request.access
        var trace = RuleTrace()
        var warnings: WarningSet = []

        let quirks = QuirkEvaluator.evaluate(model: model, kernel: request.kernel.version, host: host, vm: vm)
        if quirks.enableCapFails { warnings.insert(.quirkRequestRefused) }
        if let version = request.kernel.version, version < KernelVersion(major: 6, minor: 6) {
            warnings.insert(.kernelOlderThanModels)
        }
        if let cpu = host.cpu, host.vendor == .intel, host.selfSnoop, cpu.linuxClearsSelfSnoop {
            warnings.insert(.selfSnoopErratum)
        }

        // The guest side: which PAT entry the mapping selects.
        if access.patIndexFromEntry { trace.append(access.level == .size4K ? .patIndex4K : .patIndexHuge) }
        let patType = vcpu.pat[access.patIndex]

        // Models A/B: the SDM's reading of the guest MTRRs where it differs from KVM's.
        var sdmMTRR: SDMMTRRAnswer?

        func answer(_ applicability: Applicability, ept: EPTMemoryType?, effective: MemoryType?,
                    cell: EffectiveCell? = nil, maxLevel: PageLevel? = nil) -> Decision {
            if let effective, !access.mmio, applicability != .tdxPrivate,
               effective == .uc || effective == .wt || effective == .wp {
                warnings.insert(.uncachedRAM)
            }
            return Decision(model: model, kernel: request.kernel.version, applicability: applicability, ept: ept,
                            patIndex: access.patIndex, patType: patType, effective: effective, cell: cell,
                            maxMappingLevel: maxLevel, quirks: quirks, trace: trace, warningSet: warnings,
                            cpu: host.cpu, requestedLevel: access.level, sdmMTRR: sdmMTRR)
        }

        // Paths with no EPT decision.
        if vm.type == .tdx && access.tdxPrivate {
            trace.append(.tdxPrivateWB)
            return answer(.tdxPrivate, ept: nil, effective: .wb)
        }
        if !host.tdp {
            trace.append(.shadowPaging)
            return answer(.shadowPaging, ept: nil, effective: nil)
        }
        if host.vendor == .amd {
            trace.append(.amdNPT)
            return answer(.npt, ept: nil, effective: access.mmio ? nil : patType)
        }

        // vmx_get_mt_mask(), by model.
        let ept: EPTMemoryType
        var maxLevel: PageLevel?
        if access.mmio {
            trace.append(.mmioUC)
            ept = EPTMemoryType(type: .uc, ipat: false)
        } else {
            switch model {
            case .a, .b:
                if !vm.noncoherentDMA {
                    trace.append(.aNoNoncoherentDMA)
                    ept = EPTMemoryType(type: .wb, ipat: true)
                } else if vcpu.cr0CD {
                    if !quirks.isInForce(.cdNwCleared) {
                        trace.append(.aCR0CDNoQuirk)
                        ept = EPTMemoryType(type: .uc, ipat: true)
                    } else if model == .a {
                        trace.append(.aCR0CDQuirk)
                        ept = EPTMemoryType(type: .wb, ipat: true)
                    } else {
                        trace.append(.bCR0CDQuirk)
                        ept = EPTMemoryType(type: .wb, ipat: false)
                    }
                } else {
                    trace.append(.aGuestMTRR)
                    let lookup = vcpu.mtrr.kvmLookup(gpa: access.gpa, cpuidMTRR: vcpu.cpuidMTRR)
                    trace.append(rule(for: lookup.source))
                    ept = EPTMemoryType(type: lookup.type, ipat: false)
                    // The guest's kernel and the hardware read the same MTRRs by the SDM.
                    sdmMTRR = vcpu.mtrr.sdmDisagreement(gpa: access.gpa, kvm: lookup)
                    if sdmMTRR != nil { warnings.insert(.mtrrDiffersFromSDM) }
                }
            case .c:
                if !host.selfSnoop && !vm.noncoherentDMA {
                    trace.append(.cNoSelfSnoop)
                    ept = EPTMemoryType(type: .wb, ipat: true)
                } else {
                    trace.append(.cHonorGuestPAT)
                    ept = EPTMemoryType(type: .wb, ipat: false)
                }
            case .d:
                if !vm.noncoherentDMA {
                    trace.append(.aNoNoncoherentDMA)
                    ept = EPTMemoryType(type: .wb, ipat: true)
                } else {
                    trace.append(.dNoncoherentDMA)
                    ept = EPTMemoryType(type: .wb, ipat: false)
                }
            case .e:
                if !vm.noncoherentDMA && quirks.isInForce(.ignoreGuestPAT) {
                    trace.append(.eQuirkIgnoresPAT)
                    ept = EPTMemoryType(type: .wb, ipat: true)
                } else {
                    trace.append(.eHonorGuestPAT)
                    ept = EPTMemoryType(type: .wb, ipat: false)
                }
            }
        }

        // While KVM honored guest MTRRs (non-coherent DMA, up to 6.10), a huge
        // leaf must not span two MTRR types, whatever the step above chose.
        if model.honorsGuestMTRRs && vm.noncoherentDMA {
            let level = vcpu.mtrr.maxMappingLevel(gpa: access.gpa, requested: access.level)
            maxLevel = level
            if level < access.level {
                trace.append(.mtrrHugePageSplit)
                warnings.insert(.hugePageSplit)
            }
        }

        // Combine with the guest PAT type.
        if ept.ipat {
            trace.append(.ipatIdentity)
            return answer(.ept, ept: ept, effective: ept.type, maxLevel: maxLevel)
        }
        trace.append(.table11_7)
        // The EPT type is UC or an MTRR type, so it always has a row.
        let cell = EffectiveTypeTable.cell(row: ept.type, pat: patType)!
        return answer(.ept, ept: ept, effective: cell.type, cell: cell, maxLevel: maxLevel)
    }

    /// The trace rule for an MTRR lookup outcome.
    public static func rule(for source: MTRRSource) -> Rule {
        switch source {
        case .disabled: .mtrrDisabled
        case .fixed: .mtrrFixed
        case .variable: .mtrrVariable
        case .variableUCWins: .mtrrUCWins
        case .variableUCMetFirst: .mtrrUCMetFirst
        case .variableWTOverWB: .mtrrWTOverWB
        case .variableUndefinedMix: .mtrrUndefinedMix
        case .defaultType: .mtrrDefault
        }
    }
}
