// Uses the generated client once, over URLSession: that the generated code
// compiles is what CI checks here; with a URL argument it also asks that
// server's /healthz, to show the client and its transport work end to end.
import Foundation
import MemTypedClient
import OpenAPIURLSession

guard CommandLine.arguments.count == 2, let url = URL(string: CommandLine.arguments[1]) else {
    FileHandle.standardError.write(Data("usage: memtyped-client-check http://127.0.0.1:8080\n".utf8))
    exit(2)
}
let client = Client(serverURL: url, transport: URLSessionTransport())
do {
    switch try await client.health() {
    case .ok:
        print("healthz: 200")
    case let other:
        print("healthz: \(other)")
        exit(1)
    }
} catch {
    print("healthz: \(error)")
    exit(1)
}
