package transport

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tcpPair returns an accepted connection wrapped as the server wraps it, and
// the client end as the net package makes it.
func tcpPair(t *testing.T) (server net.Conn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	nc, err := ln.Accept()
	require.NoError(t, err)
	server = wrapTCP(nc)
	if inlineWrites {
		require.IsType(t, &tcpConn{}, server)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestTCPConnStream sends 8 MiB each way through the wrapped connection, so
// writes fill the socket buffer and wait for the reader, and reads take
// whatever sizes arrive; the bytes must come out as they went in.
func TestTCPConnStream(t *testing.T) {
	server, client := tcpPair(t)
	data := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, dir := range []struct {
		name string
		w, r net.Conn
	}{{"server writes", server, client}, {"server reads", client, server}} {
		t.Run(dir.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				n, err := dir.w.Write(data)
				if err == nil && n != len(data) {
					err = io.ErrShortWrite
				}
				errc <- err
			}()
			// A write that gives up early leaves the reader waiting:
			// the deadline turns that into a failure.
			require.NoError(t, dir.r.SetReadDeadline(time.Now().Add(20*time.Second)))
			got := make([]byte, 0, len(data))
			buf := make([]byte, 3000) // an odd size: reads end mid-write
			for len(got) < len(data) {
				n, err := dir.r.Read(buf)
				require.NoError(t, err)
				got = append(got, buf[:n]...)
			}
			require.NoError(t, <-errc)
			require.True(t, bytes.Equal(data, got), "bytes differ")
		})
	}
}

// TestTCPConnErrors checks that the wrapped connection reports what the net
// package would: io.EOF when the peer closes, a timeout at the read
// deadline, net.ErrClosed after Close.
func TestTCPConnErrors(t *testing.T) {
	server, client := tcpPair(t)
	buf := make([]byte, 16)

	n, err := server.Read(buf[:0])
	require.NoError(t, err)
	require.Zero(t, n)

	require.NoError(t, server.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = server.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "deadline error is a net.Error timeout: %v", err)
	require.NoError(t, server.SetReadDeadline(time.Time{}))

	_, err = client.Write([]byte("hello"))
	require.NoError(t, err)
	n, err = io.ReadFull(server, buf[:5])
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))

	require.NoError(t, client.Close())
	_, err = server.Read(buf)
	require.ErrorIs(t, err, io.EOF)

	require.NoError(t, server.Close())
	_, err = server.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = server.Write(buf)
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestTCPConnWriteDeadline checks that a write blocked by a peer that does
// not read ends at the write deadline.
func TestTCPConnWriteDeadline(t *testing.T) {
	server, _ := tcpPair(t)
	require.NoError(t, server.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := server.Write(make([]byte, 64<<20)) // more than loopback buffers hold
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Less(t, n, 64<<20)
}

// TestTCPConnAllocs checks that reading and writing the wrapped connection
// allocates nothing.
func TestTCPConnAllocs(t *testing.T) {
	server, client := tcpPair(t)
	if _, ok := server.(*tcpConn); !ok {
		t.Skip("no raw connections on this platform")
	}
	out, in := make([]byte, 512), make([]byte, 512)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := server.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, in); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(out); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, in); err != nil {
			t.Fatal(err)
		}
		if n, err := server.(*tcpConn).tryWrite(out); err != nil || n != len(out) {
			t.Fatal(n, err)
		}
		if _, err := io.ReadFull(client, in); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
