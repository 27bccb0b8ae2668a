import Logging
import MemTypedService

#if canImport(Glibc)
import Glibc
#endif

/// The tokens file memtyped was pointed at, read at start and again on SIGHUP.
struct TokenFile {
    /// The credential name the systemd unit passes the tokens under
    /// (`LoadCredential=tokens:/etc/memtyped/tokens`).
    static let credentialName = "tokens"

    let path: String
    let readsRequireToken: Bool

    /// `--tokens` / `MEMTYPED_TOKENS` when given; otherwise the `tokens`
    /// credential when systemd passed one (`$CREDENTIALS_DIRECTORY/tokens`:
    /// a copy readable by the service's own user, which is how the tokens
    /// reach a `DynamicUser=yes` service); otherwise nil (no tokens).
    static func locate(explicit: String?, environment: Environment) -> String? {
        if let explicit { return explicit }
        guard let directory = environment.string("CREDENTIALS_DIRECTORY") else { return nil }
        let path = directory + "/" + credentialName
        return access(path, F_OK) == 0 ? path : nil
    }

    /// Reads and parses the file. Errors say which file and why (errno text, or the line).
    func load() throws(StartupFailure) -> TokenAuth {
        let bytes: [UInt8]
        switch readFileBytes(path) {
        case .success(let b): bytes = b
        case .failure(let e): throw StartupFailure("cannot read tokens file \(path): \(e)")
        }
        do {
            return try TokenAuth(fileText: String(decoding: bytes, as: UTF8.self), readsRequireToken: readsRequireToken)
        } catch {
            throw StartupFailure("\(path): \(error)")
        }
    }

    /// Warns when group or others may read or write the file: it holds secrets.
    func warnIfExposed(_ logger: Logger) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let mode = st.st_mode & 0o777
        if mode & 0o077 != 0 {
            logger.warning("tokens file \(path) has mode \(String(mode, radix: 8)), wider than 600: others on this host may read the tokens (chmod 600 \(path))")
        }
    }
}
