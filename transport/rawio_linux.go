package transport

import (
	"syscall"
	"unsafe"
)

// sysRead reads the non-blocking socket fd with a raw system call, which
// the scheduler is not told about. syscall.Read and syscall.Write tell it
// that a system call starts and ends, and the first such call after the
// process was idle wakes the runtime's monitor thread (sysmon), which then
// polls every few microseconds until it finds the process idle again: at a few thousand
// messages a second that is several thread wake-ups per message, which cost
// more broker CPU and latency than the messages themselves (see mqttload's
// paced runs). A call on a non-blocking socket returns at once (EAGAIN when
// it would have to wait), so it cannot keep its thread for long; waiting for
// the socket still goes through the runtime's poller.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// sysWrite writes the non-blocking socket fd with a raw system call (see
// sysRead).
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}
