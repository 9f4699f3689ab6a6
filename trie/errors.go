package trie

import (
	"strconv"

	"github.com/heraldmq/herald/topic"
)

// FilterError describes why Insert or Remove rejected a filter that does not
// follow the syntax described in the package documentation. It unwraps to
// topic.ErrInvalid, so callers can test with errors.Is(err, topic.ErrInvalid)
// and read the detail with errors.As.
type FilterError struct {
	// Filter is the filter as passed by the caller.
	Filter string
	// Level is the 1-based position of the offending level in Filter, counting
	// "$share" and the group name as levels; 0 means the filter as a whole
	// (for example the empty string).
	Level int
	// Reason says what is wrong, in lower case, without the filter.
	Reason string
}

// Error returns a message naming the filter, the level and the reason, for
// example `trie: invalid filter "a/b#/": level 2 "b#": wildcard must be a whole level`.
func (e *FilterError) Error() string {
	msg := "trie: invalid filter " + strconv.Quote(e.Filter) + ": "
	if e.Level > 0 {
		msg += "level " + strconv.Itoa(e.Level)
		if lv, ok := levelAt(e.Filter, e.Level); ok {
			msg += " " + strconv.Quote(lv)
		}
		msg += ": "
	}
	return msg + e.Reason
}

// Unwrap returns topic.ErrInvalid.
func (e *FilterError) Unwrap() error { return topic.ErrInvalid }

// levelAt returns the 1-based level i of s, if it exists.
func levelAt(s string, i int) (string, bool) {
	b := trimSlash(s)
	for pos, n := 0, 1; pos <= len(b); n++ {
		lv, next := nextLevel(b, pos)
		if n == i {
			return lv, true
		}
		pos = next
	}
	return "", false
}
