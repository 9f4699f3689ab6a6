package engine

import "errors"

var (
	// ErrClosed is returned by every call on an Engine, Conn or Subscription
	// after it has been closed.
	ErrClosed = errors.New("engine: closed")

	// ErrWildcardPublish is returned when publishing to a channel that
	// contains a wildcard segment (Emitter answers 403).
	ErrWildcardPublish = errors.New("engine: cannot publish to a wildcard channel")

	// ErrConnExists is returned by Connect when ConnOptions.ID names a
	// connection that is already open.
	ErrConnExists = errors.New("engine: connection id already in use")

	// ErrInvalidOption is returned for an option value that is out of
	// range, such as a negative TTL or queue size.
	ErrInvalidOption = errors.New("engine: invalid option")

	// ErrInvalidBanTarget is returned by Ban and Unban when the key to ban does not
	// decrypt or belongs to another contract (Emitter answers 400).
	ErrInvalidBanTarget = errors.New("engine: ban target is not a key of this license")
)
