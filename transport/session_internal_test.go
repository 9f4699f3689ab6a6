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
// are acknowledged in random order, and checks every id against a model of
// the ids in flight. It also starts from a list restored from a session file
// (ids with no sequence numbers).
func TestNewIDNeverInFlight(t *testing.T) {
	for _, restored := range []bool{false, true} {
		s := &session{}
		model := map[uint16]bool{}
		if restored {
			for id := uint16(1); id <= 40; id++ {
				s.inflight = append(s.inflight, inflight{outMsg: outMsg{qos: mqtt.AtLeastOnce}, id: id * 3})
				model[id*3] = true
			}
			s.nextID, s.idSeq = 7, 1<<16 // as loadSessions leaves them
		}
		rng := rand.New(rand.NewPCG(9, 10))
		stuck := true
		for i := range 300_000 {
			id := s.newIDLocked()
			require.NotZero(t, id)
			require.False(t, model[id], "step %d: id %d is in flight", i, id)
			s.inflight = append(s.inflight, inflight{outMsg: outMsg{qos: mqtt.AtLeastOnce}, id: id, seq: s.idSeq})
			model[id] = true
			for len(model) > 100 || (len(model) > 1 && rng.IntN(3) == 0) {
				// Acknowledge a random one, the oldest now and then.
				k := s.ihead + rng.IntN(len(s.inflight)-s.ihead)
				if stuck && k == s.ihead {
					k++ // the first stays in flight until the end
				}
				if k >= len(s.inflight) {
					break
				}
				ack := s.inflight[k].id
				s.ack(mqtt.Puback, ack)
				delete(model, ack)
			}
			if i == 250_000 {
				stuck = false
			}
		}
		live := map[uint16]bool{}
		for _, f := range s.inflight[s.ihead:] {
			live[f.id] = true
		}
		require.Equal(t, model, live)
	}
}

// TestAwayQueueKeepsCopies checks that messages queued for a client that is
// away are copies of their own (not views into the engine's shared blocks,
// which a long stay would pin), with the same content, and that a second
// match of the same message raises the queued copy's QoS instead of queueing
// it twice.
func TestAwayQueueKeepsCopies(t *testing.T) {
	s := &session{srv: &Server{opts: Options{MaxQueued: 10}}}
	m := &engine.Message{Channel: "a/", Payload: []byte("hello")}
	m.ID[0] = 1
	s.enqueue(outMsg{m: m, qos: mqtt.AtLeastOnce}, nil)
	s.enqueue(outMsg{m: m, qos: mqtt.ExactlyOnce}, nil)
	require.Len(t, s.queue, 1)
	q := s.queue[0]
	require.NotSame(t, m, q.m)
	require.Equal(t, m.ID, q.m.ID)
	require.Equal(t, m.Payload, q.m.Payload)
	require.NotSame(t, &m.Payload[0], &q.m.Payload[0])
	require.Equal(t, mqtt.ExactlyOnce, q.qos)
}
