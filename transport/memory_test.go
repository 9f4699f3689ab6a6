//go:build !race

package transport_test

import (
	"fmt"
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
func idleConnMemory(t testing.TB, n int) float64 { return connMemory(t, n, 0) }

// connMemory is idleConnMemory for connections that first receive burst
// QoS 1 messages each (when burst > 0), acknowledge them and then stay idle.
func connMemory(t testing.TB, n, burst int) float64 {
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
		qos := mqtt.AtMostOnce
		if burst > 0 {
			qos = mqtt.AtLeastOnce
		}
		sub := mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: key + "/idle/" + string(rune('a'+i%26)) + "/", QoS: qos}}}
		buf, err = sub.Append(buf)
		require.NoError(t, err)
		_, err = c.Write(buf)
		require.NoError(t, err)
		var ack [4 + 5]byte // CONNACK, SUBACK
		_, err = io.ReadFull(c, ack[:])
		require.NoError(t, err)
		require.Equal(t, []byte{0x20, 2, 0, 0, 0x90, 3, 0, 1, byte(qos)}, ack[:])
	}
	require.Equal(t, n, b.srv.Stats().Connections)
	if burst > 0 {
		sendBurst(t, b.addr, key, conns, burst)
	}
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

// sendBurst publishes burst QoS 1 messages to each of the 26 topics the
// connections subscribed to (so that each receives burst messages), has
// every connection read and acknowledge its messages, and returns once the
// server has handled every acknowledgement (a PINGRESP after them).
func sendBurst(t testing.TB, addr, key string, conns []net.Conn, burst int) {
	errs := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			r := mqtt.NewReader(c, 1<<20)
			var p mqtt.Packet
			var acks []byte
			for got := 0; got < burst; {
				if err := r.ReadPacket(&p); err != nil {
					errs <- err
					return
				}
				if p.Type != mqtt.Publish || p.QoS != mqtt.AtLeastOnce {
					errs <- fmt.Errorf("got %v QoS %d, want a QoS 1 PUBLISH", p.Type, p.QoS)
					return
				}
				got++
				acks = mqtt.AppendAck(acks, mqtt.Puback, p.ID)
				if r.Buffered() == 0 || got == burst {
					if _, err := c.Write(acks); err != nil {
						errs <- err
						return
					}
					acks = acks[:0]
				}
			}
			// The server reads a connection in order: its PINGRESP comes
			// after it has handled every PUBACK above.
			if _, err := c.Write([]byte{0xc0, 0}); err != nil { // PINGREQ
				errs <- err
				return
			}
			if err := r.ReadPacket(&p); err != nil || p.Type != mqtt.Pingresp {
				errs <- fmt.Errorf("after the burst: %v, %v", p.Type, err)
				return
			}
			r.Release()
			errs <- nil
		}()
	}
	pc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer pc.Close()
	go io.Copy(io.Discard, pc) // CONNACK and PUBACKs
	out, err := (&mqtt.Packet{Type: mqtt.Connect, CleanSession: true}).Append(nil)
	require.NoError(t, err)
	payload := make([]byte, 100)
	for i := range burst {
		for l := range 26 {
			topic := key + "/idle/" + string(rune('a'+l)) + "/"
			out, err = mqtt.AppendPublish(out, topic, payload, mqtt.AtLeastOnce, uint16(1+(i*26+l)%65535), false, false)
			require.NoError(t, err)
		}
		if len(out) > 64<<10 || i == burst-1 {
			_, err = pc.Write(out)
			require.NoError(t, err)
			out = out[:0]
		}
	}
	for range conns {
		require.NoError(t, recv(t, errs))
	}
}

// TestConnMemoryAfterBurst checks that a connection that has received a
// burst of QoS 1 messages, more than the queue, in-flight list and writer
// batch a connection keeps, gives what the burst grew back once it has
// acknowledged it. It stays a little above an idle connection that never
// had traffic: its read goroutine's stack has grown to 4 KiB, and it keeps
// small buffers.
func TestConnMemoryAfterBurst(t *testing.T) {
	per := connMemory(t, 1040, 400)
	t.Logf("%.0f bytes per connection idle after a burst of 400 (server and client side)", per)
	require.Less(t, per, 10240.0)
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
