package transport

import "errors"

var (
	// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown
	// or Close.
	ErrServerClosed = errors.New("transport: server closed")

	// ErrNilEngine is returned by New without an engine.
	ErrNilEngine = errors.New("transport: nil engine")
)
