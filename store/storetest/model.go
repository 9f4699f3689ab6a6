package storetest

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// model is the reference the suite checks stores against: a slice of history
// messages and a map of retained messages, filtered the naive way.
type model struct {
	msgs     []store.Message
	retained map[string]store.Message
}

func newModel() *model { return &model{retained: map[string]store.Message{}} }

func clone(m store.Message) store.Message {
	m.Payload = bytes.Clone(m.Payload)
	return m
}

func (m *model) store(msgs ...store.Message) {
	for _, msg := range msgs {
		msg = clone(msg)
		if msg.Retained {
			// A newer retained message wins, unless it has expired.
			if cur, ok := m.retained[msg.Channel]; ok && !cur.Expired(time.Now().UnixNano()) &&
				bytes.Compare(cur.ID[:], msg.ID[:]) > 0 {
				continue
			}
			if len(msg.Payload) == 0 {
				delete(m.retained, msg.Channel)
			} else {
				m.retained[msg.Channel] = msg
			}
			continue
		}
		i := slices.IndexFunc(m.msgs, func(x store.Message) bool { return x.Channel == msg.Channel && x.ID == msg.ID })
		if i >= 0 {
			m.msgs[i] = msg
		} else {
			m.msgs = append(m.msgs, msg)
		}
	}
}

func (m *model) delete(ch string, ids ...store.ID) int {
	n, _ := m.deleteAt(ch, 0, ids...)
	return n
}

// deleteAt deletes like Store.Delete and returns how many messages it removed
// and how many of those had expired at now (a store may have swept those
// already, so its count may be lower by up to that many).
func (m *model) deleteAt(ch string, now int64, ids ...store.ID) (n, expired int) {
	keep := m.msgs[:0]
	for _, x := range m.msgs {
		if x.Channel == ch && (len(ids) == 0 || slices.Contains(ids, x.ID)) {
			n++
			if x.Expired(now) {
				expired++
			}
			continue
		}
		keep = append(keep, x)
	}
	m.msgs = keep
	if r, ok := m.retained[ch]; ok && (len(ids) == 0 || slices.Contains(ids, r.ID)) {
		delete(m.retained, ch)
		n++
		if r.Expired(now) {
			expired++
		}
	}
	return n, expired
}

func size(m *store.Message) int { return len(m.ID) + len(m.Channel) + len(m.Payload) }

// query answers q the naive way with the default limits.
func (m *model) query(q store.Query, now int64) []store.Message {
	return m.queryLimits(q, now, store.DefaultMaxResults, store.DefaultMaxResponseBytes)
}

func (m *model) queryLimits(q store.Query, now int64, maxResults, maxResponse int) []store.Message {
	var sel []store.Message
	for _, x := range m.msgs {
		t := x.ID.UnixNano()
		switch {
		case !topic.Match(q.Filter, x.Channel, q.Matching),
			x.Expires != 0 && x.Expires <= now,
			!q.From.IsZero() && t < q.From.UnixNano(),
			!q.Until.IsZero() && t > q.Until.UnixNano(),
			!q.After.IsZero() && bytes.Compare(x.ID[:], q.After[:]) <= 0,
			!q.Before.IsZero() && bytes.Compare(x.ID[:], q.Before[:]) >= 0:
			continue
		}
		sel = append(sel, x)
	}
	// Publish order: by ID, and by channel for equal IDs in different channels.
	slices.SortFunc(sel, func(a, b store.Message) int {
		if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
			return c
		}
		return strings.Compare(a.Channel, b.Channel)
	})
	n := max(q.Last, q.Limit)
	if n == 0 || n > maxResults {
		n = maxResults
	}
	maxBytes := maxResponse
	if q.MaxBytes > 0 {
		maxBytes = min(maxBytes, q.MaxBytes)
	}
	if q.Last > 0 {
		sel = sel[max(0, len(sel)-n):]
		total, k := 0, 0
		for i := len(sel) - 1; i >= 0; i-- {
			if k > 0 && total+size(&sel[i]) > maxBytes {
				break
			}
			total += size(&sel[i])
			k++
		}
		sel = sel[len(sel)-k:]
	} else {
		sel = sel[:min(n, len(sel))]
		total, k := 0, 0
		for i := range sel {
			if k > 0 && total+size(&sel[i]) > maxBytes {
				break
			}
			total += size(&sel[i])
			k++
		}
		sel = sel[:k]
	}
	return sel
}

func (m *model) retainedMatching(filter string, mode topic.Mode, now int64) []store.Message {
	var out []store.Message
	for _, r := range m.retained {
		if topic.Match(filter, r.Channel, mode) && (r.Expires == 0 || r.Expires > now) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Message) int { return strings.Compare(a.Channel, b.Channel) })
	return out
}
