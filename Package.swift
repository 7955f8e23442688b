// swift-tools-version: 6.1
import PackageDescription

// libswiftlet's public face is the C header in include/; the linker script keeps every other
// symbol (including the statically linked Swift runtime) private to the .so.
let linkerScript = "\(Context.packageDirectory)/Sources/CAPI/swiftlet.map"

let package = Package(
    name: "swiftlet",
    products: [
        // Named swiftlet_capi because the CLI owns "swiftlet"; `make install` installs it as
        // libswiftlet.so.1.0.0 and the linker gives it SONAME libswiftlet.so.1.
        .library(name: "swiftlet_capi", type: .dynamic, targets: ["CAPI"]),
        .executable(name: "swiftlet", targets: ["SwiftletCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // OpenBLAS's cblas.h, as a module (not API: only HWBackends/CPU uses it).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        // The public header, imported by CAPI so the exported functions use its exact types.
        .systemLibrary(name: "CSwiftlet", path: "include"),
        .target(
            name: "CoreRuntime",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        // Hand-written SIMD kernels (AVX2/FMA chosen at run time, portable C otherwise).
        .target(name: "CKernels"),
        .target(name: "HWBackends", dependencies: ["CoreRuntime", "CBLAS", "CKernels"]),
        .target(
            name: "CAPI",
            dependencies: ["CoreRuntime", "HWBackends", "CSwiftlet"],
            exclude: ["swiftlet.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-Xlinker", "--version-script=\(linkerScript)",
                    "-Xlinker", "-soname=libswiftlet.so.1",
                ])
            ]
        ),
        .executableTarget(
            name: "SwiftletCLI",
            dependencies: [
                "CoreRuntime", "HWBackends",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Builds models in code for the tests (no model files); not a product.
        .target(name: "TestSupport", dependencies: ["CoreRuntime"], path: "Tests/TestSupport"),
        .testTarget(name: "CoreRuntimeTests", dependencies: ["CoreRuntime", "TestSupport"]),
        .testTarget(name: "HWBackendsTests", dependencies: ["HWBackends", "CoreRuntime", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
