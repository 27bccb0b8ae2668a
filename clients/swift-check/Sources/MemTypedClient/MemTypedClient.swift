// The client itself (Types.swift, Client.swift) is generated at build time
// from openapi.yaml (a link to the repository's contract) by
// swift-openapi-generator's build plugin, configured by
// openapi-generator-config.yaml beside this file. Nothing here is written by hand.
