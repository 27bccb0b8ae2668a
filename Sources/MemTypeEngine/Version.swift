/// The release of this package: what `memtype --version`, `memtyped --version`,
/// the `build_info` metric and the Debian package (deploy/build-deb.sh asks the
/// built binary) all report. Lives here because every product links the engine.
public let memtypedVersion = "0.1.0"
