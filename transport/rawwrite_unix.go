//go:build unix

package transport

import "syscall"

// inlineWrites tells whether writeNonBlocking works on this platform.
const inlineWrites = true

// writeNonBlocking makes one write system call on a connection's socket
// (non-blocking, as Go keeps its sockets) and returns how much it took; a
// full socket buffer is not an error (n is then 0).
func writeNonBlocking(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), b)
		return true // one attempt: never wait for the socket here
	})
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return max(n, 0), nil
}
