//go:build unix

package transport

import (
	"io"
	"net"
	"os"
	"syscall"
)

// inlineWrites tells whether writeNonBlocking works on this platform.
const inlineWrites = true

// writeNonBlocking makes one write system call on a connection's socket
// (non-blocking, as Go keeps its sockets) and returns how much it took; a
// full socket buffer is not an error (n is then 0).
func writeNonBlocking(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := raw.Write(func(fd uintptr) bool {
		n, errno = sysWrite(fd, b)
		return true // one attempt: never wait for the socket here
	})
	if err != nil {
		return 0, err
	}
	switch errno {
	case 0:
		return max(n, 0), nil
	case syscall.EAGAIN, syscall.EINTR:
		return 0, nil
	}
	return 0, os.NewSyscallError("write", errno)
}

// tcpConn is an accepted TCP connection whose reads and writes go through
// sysRead and sysWrite (raw system calls on Linux: see rawio_linux.go);
// waiting for the socket still goes through the runtime's poller, which
// also enforces deadlines.
type tcpConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

// wrapTCP returns nc as a *tcpConn when it is a TCP connection.
func wrapTCP(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return &tcpConn{TCPConn: tc, raw: raw}
}

// Read reads what the socket has, waiting until it has something.
func (c *tcpConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, errno = sysRead(fd, p)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN // on EAGAIN, wait and call again
			}
		}
	})
	switch {
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: unwrapOp(err)}
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting for the socket when its buffer is full.
func (c *tcpConn) Write(b []byte) (int, error) {
	done := 0
	var errno syscall.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for done < len(b) {
			n, e := sysWrite(fd, b[done:])
			switch e {
			case 0:
				done += n
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until the socket takes more, then call again
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: unwrapOp(err)}
	case errno != 0:
		return done, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", errno)}
	}
	return done, nil
}

// unwrapOp returns the error inside the *net.OpError a RawConn method
// returns (net.ErrClosed, os.ErrDeadlineExceeded, ...).
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}
