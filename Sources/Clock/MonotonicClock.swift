#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one monotonic clock of the Swift code (CLOCK_MONOTONIC, as the C
/// shim's `mhd_shim_monotonic_ns` reads it for the server's own deadlines):
/// for durations, never for dates. Request timing, the store's busy-wait
/// budget and the benchmarks read it here.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point.
    @inlinable
    public static func nanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Milliseconds since the same point.
    @inlinable
    public static func milliseconds() -> Int64 { nanoseconds() / 1_000_000 }
}
