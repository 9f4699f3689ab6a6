package transport

import (
	"sync/atomic"
	"unsafe"

	"github.com/heraldmq/herald/transport/mqtt"
)

// MQTT delivers a message at the lower of the publisher's QoS and the
// subscription's, but engine.Message does not carry the publisher's QoS. The
// transport's subscriptions are Inline: their handlers run on the publishing
// goroutine, inside Conn.Publish. So while a network client's publish is in
// Conn.Publish, the transport records its QoS here, keyed by the address of
// the channel string it passed; the engine's Message.Channel is a substring
// of that string starting at the same address (security.ParseChannel does not
// copy), so a handler finds the QoS by the address of m.Channel. The entry is
// removed when Publish returns; a handler can only see an address while its
// publisher is inside Publish, so addresses are never confused. Messages
// without an entry (published in-process, or replayed from the store) are
// delivered at the subscription's QoS.
//
// TODO(engine): a Message field for the publisher's QoS would replace this.

const hintSlots = 1024 // a power of two, well above the number of concurrent publishers

// qosTable slots hold the string address with the QoS in bits 60-61 (user
// space addresses are below 2^48 on every 64-bit platform Go supports).
type qosTable struct {
	keys [hintSlots]atomic.Uint64
	pubs [hintSlots]atomic.Pointer[conn] // the publishing connection
}

const qosShift = 60

var hints qosTable

func strAddr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

func hintSlot(p uintptr) uintptr { return (p >> 4) * 0x9E3779B97F4A7C15 >> 54 }

// set records q for the channel string ch and returns the slot to clear, or
// -1 if no slot was free (deliveries then use the subscription's QoS).
func (t *qosTable) set(ch string, q mqtt.QoS, pub *conn) int {
	p := strAddr(ch)
	if p == 0 {
		return -1
	}
	h := hintSlot(p)
	for i := range uintptr(8) {
		j := (h + i) & (hintSlots - 1)
		if t.keys[j].Load() == 0 && t.keys[j].CompareAndSwap(0, uint64(p)|uint64(q)<<qosShift) {
			t.pubs[j].Store(pub)
			return int(j)
		}
	}
	return -1
}

func (t *qosTable) clear(slot int) {
	if slot >= 0 {
		t.pubs[slot].Store(nil)
		t.keys[slot].Store(0)
	}
}

// lookup returns the QoS recorded for ch and the publishing connection
// (nil if unknown).
func (t *qosTable) lookup(ch string) (mqtt.QoS, *conn, bool) {
	p := strAddr(ch)
	if p == 0 {
		return 0, nil, false
	}
	h := hintSlot(p)
	for i := range uintptr(8) {
		j := (h + i) & (hintSlots - 1)
		if k := t.keys[j].Load(); k&^(3<<qosShift) == uint64(p) {
			return mqtt.QoS(k >> qosShift), t.pubs[j].Load(), true
		}
	}
	return 0, nil, false
}
