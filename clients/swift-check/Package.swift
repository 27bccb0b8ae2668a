// swift-tools-version:6.0
// A client generated from the contract (../../openapi.yaml) by
// swift-openapi-generator's build plugin, and compiled: CI builds this package
// (scripts/client-check.sh) so that an openapi.yaml the generator cannot read,
// or whose generated code does not compile, fails the run. It is a package of
// its own so that memtyped itself does not depend on the generator.
import PackageDescription

let package = Package(
    name: "memtyped-swift-client-check",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", exact: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", exact: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", exact: "1.4.0"),
    ],
    targets: [
        .target(
            name: "MemTypedClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .executableTarget(
            name: "memtyped-client-check",
            dependencies: [
                "MemTypedClient",
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
            ]
        ),
    ]
)
