package transport

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/transport/mqtt"
)

// TestNewIDNeverInFlight hands out 300k packet ids while one message stays
// unacknowledged (so ids wrap around it several times) and up to 100 others
// are acknowledged in random order, one at a time or in runs, and checks
// every id against a model of the ids in flight. It also starts from a list
// restored from a session file (ids with no sequence numbers).
func TestNewIDNeverInFlight(t *testing.T) {
	for _, restored := range []bool{false, true} {
		o := &outbox{}
		w := &o.window
		model := map[uint16]bool{}
		if restored {
			for id := uint16(1); id <= 40; id++ {
				w.list = append(w.list, inflight{outMsg: outMsg{qos: mqtt.AtLeastOnce}, id: id * 3})
				model[id*3] = true
			}
			w.restore(7, w.list) // as loadSessions leaves them
		}
		rng := rand.New(rand.NewPCG(9, 10))
		stuck := true
		for i := range 300_000 {
			id := w.newID()
			require.NotZero(t, id)
			require.False(t, model[id], "step %d: id %d is in flight", i, id)
			w.list = append(w.list, inflight{outMsg: outMsg{qos: mqtt.AtLeastOnce}, id: id, seq: w.seq})
			model[id] = true
			for len(model) > 100 || (len(model) > 1 && rng.IntN(3) == 0) {
				// Acknowledge a random one, the oldest now and then.
				k := w.head + rng.IntN(len(w.list)-w.head)
				if stuck && k == w.head {
					k++ // the first stays in flight until the end
				}
				if k >= len(w.list) {
					break
				}
				run := []uint16{w.list[k].id}
				if rng.IntN(4) == 0 {
					// A run (as ReadAcks takes them): the next few too,
					// and an id not in flight, which changes nothing.
					for j := k + 1; j < len(w.list) && j < k+4; j++ {
						run = append(run, w.list[j].id)
					}
					if v := uint16(1 + rng.IntN(65535)); !model[v] {
						run = append(run, v)
					}
				}
				o.ack(mqtt.Puback, run)
				for _, id := range run {
					delete(model, id)
				}
			}
			if i == 250_000 {
				stuck = false
			}
		}
		live := map[uint16]bool{}
		for _, f := range w.entries() {
			live[f.id] = true
		}
		require.Equal(t, model, live)
	}
}

// TestAwayQueueKeepsCopies checks that messages kept for a client that is
// away (queued while it is, or queued and in flight when it left) are copies
// of their own, not views into the engine's shared blocks, which a long stay
// would pin; with the same content; and that a second match of the same
// message raises the queued copy's QoS instead of queueing it twice.
func TestAwayQueueKeepsCopies(t *testing.T) {
	msg := func(i byte) *engine.Message {
		m := &engine.Message{Channel: "a/", Payload: []byte{'m', i}}
		m.ID[0] = i
		return m
	}
	same := func(t *testing.T, m, kept *engine.Message) {
		t.Helper()
		require.NotSame(t, m, kept)
		require.Equal(t, m.ID, kept.ID)
		require.Equal(t, m.Payload, kept.Payload)
		require.NotSame(t, &m.Payload[0], &kept.Payload[0])
	}

	srv := &Server{opts: Options{QueueSize: 10}}
	s := &session{srv: srv, out: outbox{srv: srv}}
	m := msg(1)
	s.out.enqueue(outMsg{m: m, qos: mqtt.AtLeastOnce}, nil)
	s.out.enqueue(outMsg{m: m, qos: mqtt.ExactlyOnce}, nil)
	require.Len(t, s.out.queue, 1)
	same(t, m, s.out.queue[0].m)
	require.Equal(t, mqtt.ExactlyOnce, s.out.queue[0].qos)

	// Connected (with its writer busy, so the queue stays), then gone.
	c := &conn{}
	srv = &Server{opts: Options{QueueSize: 10, MaxPending: 1 << 10}}
	s = &session{srv: srv, out: outbox{srv: srv, conn: c, writing: true}}
	queued, sent := msg(2), msg(3)
	s.out.enqueue(outMsg{m: queued, qos: mqtt.AtMostOnce}, nil)
	require.True(t, s.out.sendCtrl(c, []byte{0x40, 2, 0, 1})) // a PUBACK behind it
	s.out.enqueue(outMsg{m: queued, qos: mqtt.AtLeastOnce}, nil)
	require.Len(t, s.out.queue, 2)
	require.Same(t, queued, s.out.queue[0].m, "no copy while the client is there")
	require.Equal(t, mqtt.AtLeastOnce, s.out.queue[0].qos, "the second match raised the QoS")
	s.out.window.list = append(s.out.window.list, inflight{outMsg: outMsg{m: sent, qos: mqtt.AtLeastOnce}, id: 1})
	s.detach(c)
	require.Len(t, s.out.queue, 1)
	same(t, queued, s.out.queue[0].m)
	same(t, sent, s.out.window.list[0].m)
}

// TestWriteBufSizes checks that a writer gets the smallest buffer that holds
// its batch without growing (a batch stops at the message that crosses
// maxBatchBytes, at most 8 KiB over a class's limit here), and that a
// returned buffer goes back to the pool of its size, never to a smaller
// one's.
func TestWriteBufSizes(t *testing.T) {
	for _, n := range []int{0, 1, smallBatch, smallBatch + 1, midBatch, midBatch + 1, maxBatchBytes, maxBatchBytes + 1} {
		w := getWriteBuf(n)
		want := smallWriteBuf
		switch {
		case n > midBatch:
			want = largeWriteBuf
		case n > smallBatch:
			want = midWriteBuf
		}
		require.Equal(t, want, cap(w.b), "batch of %d bytes", n)
		require.Zero(t, len(w.b))
		require.GreaterOrEqual(t, cap(w.b), min(n, maxBatchBytes)+8<<10)
		w.b = append(w.b, make([]byte, n)...)
		putWriteBuf(w)
		if cap(w.b) > 2*largeWriteBuf {
			continue // dropped
		}
		// It comes back from the pool of its size (sync.Pool may drop it:
		// then a new one of the same size).
		require.Equal(t, want, cap(getWriteBuf(n).b))
	}
	// A buffer grown for one huge message is not pooled as a full-batch one.
	huge := &writeBuf{b: make([]byte, 0, 3*largeWriteBuf)}
	putWriteBuf(huge)
	require.Equal(t, largeWriteBuf, cap(getWriteBuf(maxBatchBytes).b))
}
