//go:build !unix

package transport

import (
	"errors"
	"net"
	"syscall"
)

const inlineWrites = false

// tcpConn is only used on Unix systems.
type tcpConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func wrapTCP(nc net.Conn) net.Conn { return nc }

func (c *tcpConn) tryWrite([]byte) (int, error) {
	return 0, errors.New("transport: no inline writes on this platform")
}
