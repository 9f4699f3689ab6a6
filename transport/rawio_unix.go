//go:build unix

package transport

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// inlineWrites tells whether tcpConn.tryWrite works on this platform.
const inlineWrites = true

// tcpConn is an accepted TCP connection whose reads and writes go through
// sysRead and sysWrite (raw system calls on Linux);
// waiting for the socket still goes through the runtime's poller, which
// also enforces deadlines. The functions given to the poller are bound
// once, with their arguments and results in the struct, so that a read or a
// write allocates nothing; rmu and wmu keep concurrent readers (or writers)
// from sharing them.
type tcpConn struct {
	*net.TCPConn
	raw syscall.RawConn

	rmu     sync.Mutex
	rbuf    []byte
	rn      int
	rerrno  syscall.Errno
	readFn  func(fd uintptr) bool
	wmu     sync.Mutex
	wbuf    []byte
	wdone   int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
	tryFn   func(fd uintptr) bool
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
	c := &tcpConn{TCPConn: tc, raw: raw}
	c.readFn = c.readOnce
	c.writeFn = c.writeSome
	c.tryFn = c.writeOnce
	return c
}

// Read reads what the socket has, waiting until it has something.
func (c *tcpConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.raw.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	c.rmu.Unlock()
	if err := c.opError("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readOnce is Read's function for the poller: false asks it to wait for
// the socket and call again.
func (c *tcpConn) readOnce(fd uintptr) bool {
	for {
		c.rn, c.rerrno = sysRead(fd, c.rbuf)
		if c.rerrno != syscall.EINTR {
			return c.rerrno != syscall.EAGAIN
		}
	}
}

// Write writes all of b, waiting for the socket when its buffer is full.
func (c *tcpConn) Write(b []byte) (int, error) { return c.write(b, c.writeFn) }

// write gives b to the poller's write with fn (writeSome or writeOnce, bound
// once so that nothing is allocated) and returns how much fn wrote.
func (c *tcpConn) write(b []byte, fn func(uintptr) bool) (int, error) {
	c.wmu.Lock()
	c.wbuf, c.wdone, c.werrno = b, 0, 0
	err := c.raw.Write(fn)
	done, errno := c.wdone, c.werrno
	c.wbuf = nil
	c.wmu.Unlock()
	return done, c.opError("write", err, errno)
}

// writeSome is Write's function for the poller.
func (c *tcpConn) writeSome(fd uintptr) bool {
	for c.wdone < len(c.wbuf) {
		n, e := sysWrite(fd, c.wbuf[c.wdone:])
		switch e {
		case 0:
			c.wdone += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until the socket takes more, then call again
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

// tryWrite makes one write system call (the socket is non-blocking) and
// returns how much it took; a full socket buffer is not an error (n is then
// 0). It never waits for the socket.
func (c *tcpConn) tryWrite(b []byte) (int, error) { return c.write(b, c.tryFn) }

// writeOnce is tryWrite's function for the poller.
func (c *tcpConn) writeOnce(fd uintptr) bool {
	switch n, e := sysWrite(fd, c.wbuf); e {
	case 0:
		c.wdone = max(n, 0)
	case syscall.EAGAIN, syscall.EINTR:
	default:
		c.werrno = e
	}
	return true // one attempt
}

// opError returns what the net package would for a failed op: err from
// the poller (closed, deadline) or errno from the system call; nil when
// neither is set.
func (c *tcpConn) opError(op string, err error, errno syscall.Errno) error {
	switch {
	case err != nil:
		err = unwrapOp(err)
	case errno != 0:
		err = os.NewSyscallError(op, errno)
	default:
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// unwrapOp returns the error inside the *net.OpError a RawConn method
// returns (net.ErrClosed, os.ErrDeadlineExceeded, ...).
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}
