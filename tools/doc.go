// Package tools pins the development tools Herald's CI runs (staticcheck,
// benchstat) in a module of their own, so that the library's go.mod never
// lists them. Run one with: go tool -modfile=tools/go.mod staticcheck ./...
package tools
