// Package storetest is the conformance suite for store.Store implementations.
// Herald runs it against store.Memory and store.Bolt; run it against your own
// implementation too:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) store.Store {
//			return mystore.New(...)
//		})
//	}
//
// The package example runs the suite against a Store type of its own that
// wraps store.Memory.
//
// # Requirements
//
// newStore must return an empty store with the default limits of
// store.Options (64 KiB messages and responses, at most 1000 results), whose
// expiry clock is time.Now. The suite closes every store it creates; newStore
// may also register a t.Cleanup that closes it again (Close is idempotent).
//
// Some tests run inside a testing/synctest bubble (fake time): newStore is
// then called inside the bubble, and the store must not use goroutines or
// channels created outside it. If the store has a method
// Sweep(context.Context) (int, error) that removes expired messages, the suite
// checks it and checks that a background sweeper (interval at most one
// second) removes expired messages without it.
//
// The suite checks results against a simple reference model (a slice of
// messages filtered the naive way) and checks that Close leaves no goroutine
// behind.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(testing.TB) store.Store)
	}{
		{"Basic", testBasic},
		{"Matching", testMatching},
		{"Window", testWindow},
		{"ByteCap", testByteCap},
		{"Clamp", testClamp},
		{"Paging", testPaging},
		{"Retained", testRetained},
		{"Delete", testDelete},
		{"Errors", testErrors},
		{"Expiry", testExpiry},
		{"ExpirySweep", testExpirySweep},
		{"Ownership", testOwnership},
		{"Random", testRandom},
		{"Concurrent", testConcurrent},
		{"ConcurrentDelete", testConcurrentDelete},
		{"Cancel", testCancel},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// base is the time of the suite's messages: far in the past, so that From
// and Until bounds are easy to reason about, yet after 1970.
var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func msg(t int64, tail uint64, ch, payload string) store.Message {
	return store.Message{ID: store.NewID(base+t, tail), Channel: ch, Payload: []byte(payload)}
}

func open(t *testing.T, newStore func(testing.TB) store.Store) store.Store {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustStore(t testing.TB, s store.Store, msgs ...store.Message) {
	t.Helper()
	if err := s.Store(context.Background(), msgs...); err != nil {
		t.Fatalf("Store: %v", err)
	}
}

func equal(a, b []store.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Channel != y.Channel || !bytes.Equal(x.Payload, y.Payload) ||
			x.Expires != y.Expires || x.Retained != y.Retained {
			return false
		}
	}
	return true
}

func describe(ms []store.Message) string {
	var sb strings.Builder
	for _, m := range ms {
		p := m.Payload
		if len(p) > 16 {
			p = p[:16]
		}
		fmt.Fprintf(&sb, "\n\t%d/%x %s %q(%d) exp=%d ret=%v", m.ID.UnixNano()-base, m.ID[8:], m.Channel, p, len(m.Payload),
			m.Expires, m.Retained)
	}
	return sb.String()
}

// check runs q against s and the model and compares.
func check(t testing.TB, s store.Store, m *model, q store.Query) []store.Message {
	t.Helper()
	got, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	want := m.query(q, time.Now().UnixNano())
	if !equal(got, want) {
		t.Fatalf("Query(%+v):\ngot %d:%s\nwant %d:%s", q, len(got), describe(got), len(want), describe(want))
	}
	return got
}

func retained(t testing.TB, s store.Store, filter string, mode topic.Mode) []store.Message {
	t.Helper()
	var out []store.Message
	err := s.Retained(context.Background(), filter, mode, func(m store.Message) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatalf("Retained(%q): %v", filter, err)
	}
	return out
}
