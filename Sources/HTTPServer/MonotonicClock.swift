internal import CMicroHTTPDShim

/// The one monotonic clock (CLOCK_MONOTONIC, read in the C shim, which the
/// server's own deadlines use too): for durations, never for dates.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point.
    public static func nanoseconds() -> Int64 { mhd_shim_monotonic_ns() }
}
