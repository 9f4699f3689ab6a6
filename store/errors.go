package store

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the store package and by the stores in it.
// Implementations written outside this package should return (or wrap) the
// same values so that callers can test them with errors.Is. An invalid
// channel or filter gets a *topic.Error, which matches topic.ErrInvalid.
var (
	// ErrClosed is returned by every method of a Store called after Close.
	ErrClosed = errors.New("store: closed")

	// ErrTooLarge is returned (wrapped in a *SizeError) when a message payload
	// is larger than the store's maximum message size.
	ErrTooLarge = errors.New("store: message too large")

	// ErrInvalidExpiry is returned when a message has a negative Expires, or
	// when ExpiresAfter is given a negative TTL.
	ErrInvalidExpiry = errors.New("store: invalid expiry")

	// ErrInvalidQuery is returned when a Query has a negative or conflicting
	// field (both Last and Limit set, From after Until, an unknown Matching).
	ErrInvalidQuery = errors.New("store: invalid query")

	// ErrCorrupt is returned when a record read back from durable storage
	// cannot be decoded.
	ErrCorrupt = errors.New("store: corrupt record")
)

// SizeError reports a message whose payload exceeds the maximum message size.
// It matches ErrTooLarge with errors.Is.
type SizeError struct {
	// Size is the payload size in bytes.
	Size int
	// Max is the store's maximum payload size in bytes.
	Max int
}

// Error implements error.
func (e *SizeError) Error() string {
	return fmt.Sprintf("store: message too large: %d bytes, maximum %d", e.Size, e.Max)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }
