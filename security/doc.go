// Package security parses Emitter channel strings and implements Emitter's
// channel keys: licenses, key encryption, permissions, expiry and the
// validation of a key against a channel.
//
// Everything here is a pure function or a small value type; the package does
// no I/O and imports no other Herald package.
package security
