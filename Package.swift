// swift-tools-version:6.2
import PackageDescription

/// memtyped: KVM guest memory-type decisions and per-VM quirk records.
///
/// Layering (each arrow is "depends on"):
///   memtype (CLI) ─┬─> CCurlShim ─> CCurl (libcurl: memtype's HTTP client)
///                  │
///   memtyped ──────┴─> MemTypedService ─> MemTypeWire ─> MemTypeEngine (pure)
///                           │                 └────────> JSON (pure)
///                           ├─> HTTPServer ─> CMicroHTTPDShim ─> CMicroHTTPD (libmicrohttpd)
///                           ├─> FleetPlanning ─> MemTypeEngine (pure)
///                           └─> VMStore ─┬─> CSQLite (libsqlite3), MemTypeEngine, JSON
///                                        └─> CLibPQ (libpq, PostgreSQL)
let package = Package(
    name: "memtyped",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "memtype", targets: ["memtype"]),
        .executable(name: "memtyped", targets: ["memtyped"]),
        .library(name: "MemTypeEngine", targets: ["MemTypeEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // The decision engine: SDM tables, PAT, MTRRs, quirks and KVM's
        // per-generation EPT memory-type rules. No I/O, no global state.
        .target(name: "MemTypeEngine", dependencies: ["ASCII"]),
        // Fleet change planning over the engine: a VM's behaviour on a
        // placement, kernel plans, placements, the bochs risk. Pure.
        .target(name: "FleetPlanning", dependencies: ["MemTypeEngine", "ASCII"]),
        // ASCII text helpers (case-insensitive names) for the engine and the HTTP server.
        .target(name: "ASCII"),
        // The one lock type (a checked pthread mutex), for the store and the service.
        .target(name: "Locking"),
        // The one monotonic clock, for the service, the store and the benchmarks.
        .target(name: "Clock"),
        // A small, strict JSON reader and writer built for the request path.
        .target(name: "JSON"),
        // The wire format: JSON requests to engine inputs, decisions to JSON.
        .target(name: "MemTypeWire", dependencies: ["MemTypeEngine", "JSON"]),

        // libmicrohttpd, bridged from C.
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        .target(name: "CMicroHTTPDShim", dependencies: ["CMicroHTTPD"]),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPDShim", "ASCII"]),
        // Blocking raw-socket HTTP/1.1 client for HTTP-level tests (no dependencies).
        .target(name: "HTTPTestSupport"),
        // Seeded generators of engine inputs for the engine's and the wire layer's tests.
        .target(name: "EngineTestSupport", dependencies: ["MemTypeEngine"]),

        // SQLite, bridged from C, and the VM-config store over it.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // libpq, bridged from C: the fleet backend (Sources/VMStore/Postgres).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "VMStore", dependencies: ["CSQLite", "CLibPQ", "MemTypeEngine", "FleetPlanning", "JSON", "Locking", "Clock"]),

        // Routes, metrics and the service configuration.
        .target(
            name: "MemTypedService",
            dependencies: [
                "MemTypeWire", "HTTPServer", "VMStore", "FleetPlanning", "JSON", "Locking", "Clock",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [
                .embedInCode("Resources/openapi.yaml"),
                // The web page at GET / (Routes/WebRoutes.swift), served as written.
                .embedInCode("Resources/web/index.html"),
                .embedInCode("Resources/web/memtyped.js"),
                .embedInCode("Resources/web/memtyped-plans.js"),
                .embedInCode("Resources/web/memtyped.css"),
            ]
        ),

        // libcurl, bridged from C, for memtype's HTTP client (HTTP and HTTPS).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .executableTarget(
            name: "memtype",
            dependencies: [
                "MemTypeWire", "MemTypeEngine", "JSON", "CCurlShim", "CCurl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "memtyped",
            dependencies: [
                "MemTypedService", "VMStore", "JSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Release-mode micro-benchmarks (not tests): `swift run -c release memtype-bench`.
        // `memtype-bench seed-store PATH N` fills a store for the HTTP benchmark.
        .executableTarget(name: "memtype-bench", dependencies: ["MemTypeWire", "MemTypeEngine", "JSON", "VMStore", "Clock"]),

        .testTarget(
            name: "MemTypeEngineTests",
            dependencies: [
                "MemTypeEngine", "EngineTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "FleetPlanningTests", dependencies: ["FleetPlanning", "MemTypeEngine"]),
        .testTarget(name: "MemTypeWireTests", dependencies: ["MemTypeWire", "MemTypeEngine", "JSON", "EngineTestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "LockingTests", dependencies: ["Locking"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "HTTPTestSupport"]),
        .testTarget(name: "VMStoreTests", dependencies: ["VMStore"]),
        .testTarget(name: "ServiceTests", dependencies: [
            "MemTypedService", "JSON", "HTTPServer", "HTTPTestSupport", "VMStore",
            .product(name: "Prometheus", package: "swift-prometheus"),  // RequestSeriesTests' reference
            .product(name: "Logging", package: "swift-log"),  // EarlyRefusalTests' log capture
        ]),
    ]
)
