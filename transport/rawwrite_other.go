//go:build !unix

package transport

import (
	"errors"
	"syscall"
)

const inlineWrites = false

func writeNonBlocking(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("transport: no inline writes on this platform")
}
