//go:build !race

package transport_test

import (
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// idleConnMemory opens n MQTT connections that connect, subscribe and then
// stay idle, and returns the growth of heap and goroutine stacks per
// connection. The figure includes the client side of each socket (a
// net.TCPConn in this process), so the server's share is smaller.
func idleConnMemory(t testing.TB, n int) float64 {
	b := startBroker(t, engine.Options{}, transport.Options{})
	key, err := b.e.License().MintWithMaster(b.masterKey(), keySpec("idle/#/", "rw"))
	require.NoError(t, err)
	measure := func() uint64 {
		// Idle goroutine stacks shrink by half per GC cycle: a few cycles
		// show the steady state of a server that has been running a while.
		for range 4 {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if testing.Verbose() {
			t.Logf("heap %d stack %d goroutines %d", ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine())
		}
		return ms.HeapAlloc + ms.StackInuse
	}
	before := measure()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", b.addr)
		require.NoError(t, err)
		conns = append(conns, c)
		p := mqtt.Packet{Type: mqtt.Connect, CleanSession: true, KeepAlive: 60}
		buf, err := p.Append(nil)
		require.NoError(t, err)
		sub := mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/idle/" + string(rune('a'+i%26)) + "/"}}}
		buf, err = sub.Append(buf)
		require.NoError(t, err)
		_, err = c.Write(buf)
		require.NoError(t, err)
		var ack [4 + 5]byte // CONNACK, SUBACK
		_, err = io.ReadFull(c, ack[:])
		require.NoError(t, err)
		require.Equal(t, []byte{0x20, 2, 0, 0, 0x90, 3, 0, 1, 0}, ack[:])
	}
	require.Equal(t, n, b.srv.Stats().Connections)
	// Let the writer goroutines (started for the CONNACK/SUBACK) finish.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n+20 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	after := measure()
	if f := os.Getenv("HERALD_IDLE_HEAPPROFILE"); f != "" {
		w, err := os.Create(f)
		require.NoError(t, err)
		require.NoError(t, pprof.Lookup("heap").WriteTo(w, 0))
		w.Close()
	}
	runtime.KeepAlive(conns)
	return float64(after-before) / float64(n)
}

// TestIdleConnMemory checks the target: under 8 KiB per idle
// connection (Emitter spends 64 KiB on one read buffer).
func TestIdleConnMemory(t *testing.T) {
	per := idleConnMemory(t, 2000)
	t.Logf("%.0f bytes per idle connection (server and client side)", per)
	require.Less(t, per, 8192.0)
}

func BenchmarkIdleConnMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = idleConnMemory(b, 2000)
	}
	b.ReportMetric(per, "B/conn")
}
