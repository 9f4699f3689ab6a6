package transport

import (
	"syscall"
	"unsafe"
)

// Why raw system calls. Go keeps sockets non-blocking, so a read or a write
// returns at once (EAGAIN when it would have to wait), yet syscall.Read and
// syscall.Write tell the scheduler that a system call starts and ends. The
// first such call after the process was idle wakes the runtime's monitor
// thread (sysmon), which then polls every 20 µs until it finds the process
// idle again: at a few thousand messages a second that is several thread
// wake-ups per message, which measured here as more broker CPU than the
// messages themselves (57 against 23 µs per delivery at 5k msg/s 1→1) and
// as latency (p50 67 against 44 µs) for everything sharing the cores. A call
// on a non-blocking socket cannot keep its thread for long, so it is made
// without telling the scheduler (RawSyscall); waiting for the socket still
// goes through the runtime's poller.

func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}
