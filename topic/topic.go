package topic

import (
	"errors"
	"strconv"
	"strings"
)

// Mode selects how filters match channels. It is chosen once per trie, store
// query or engine.
type Mode uint8

const (
	// Emitter is Emitter's matching: a filter matches its own channel and
	// every descendant ("a/" matches "a/", "a/b/" and "a/b/c/"), "+" matches
	// exactly one level, and a trailing "#" level means the same as the
	// filter without it. It is the zero Mode.
	Emitter Mode = iota
	// MQTT is MQTT 3.1.1 matching: a filter matches channels of its own depth
	// only, "+" matches one level, a trailing "#" matches the rest (the parent
	// level included), and a filter whose first level is "+" or "#" does not
	// match a channel whose first level starts with '$'.
	MQTT
)

// String returns "emitter" or "mqtt", or "Mode(n)" for an unknown mode.
func (m Mode) String() string {
	switch m {
	case Emitter:
		return "emitter"
	case MQTT:
		return "mqtt"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is Emitter or MQTT.
func (m Mode) Valid() bool { return m <= MQTT }

// MaxLen is the longest channel or filter, in bytes, that any layer accepts:
// the levels and their slashes, without an Emitter key or options.
const MaxLen = 4096

// ErrInvalid is what every error for an invalid channel or filter matches
// with errors.Is, whichever layer reports it.
var ErrInvalid = errors.New("invalid channel")

// Error reports an invalid channel or filter. It matches ErrInvalid.
type Error struct {
	// Channel is the offending string, cut to its first 64 bytes.
	Channel string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns a message naming the channel and the reason.
func (e *Error) Error() string {
	return "invalid channel " + strconv.Quote(e.Channel) + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(ch, reason string) error {
	if len(ch) > 64 {
		ch = ch[:64]
	}
	return &Error{Channel: ch, Reason: reason}
}

// ValidateChannel reports whether ch can be a message's channel: at most
// MaxLen bytes, ending with '/', without a NUL byte and without a "+" or "#"
// level. Levels may be empty ("a//" is the levels "a" and ""). These are the
// rules every layer applies; Emitter's grammar and MQTT's are stricter. The
// error is an *Error.
func ValidateChannel(ch string) error { return validate(ch, false) }

// ValidateFilter reports whether filter is valid: a channel that may also
// have "+" levels and a "#" last level. The error is an *Error.
func ValidateFilter(filter string) error { return validate(filter, true) }

func validate(s string, wildcards bool) error {
	switch {
	case s == "":
		return invalid(s, "empty")
	case len(s) > MaxLen:
		return invalid(s, "longer than "+strconv.Itoa(MaxLen)+" bytes")
	case s[len(s)-1] != '/':
		return invalid(s, "must end with '/'")
	case strings.IndexByte(s, 0) >= 0:
		return invalid(s, "contains a NUL byte")
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '/' {
			continue
		}
		level := s[start:i]
		start = i + 1
		if level != "+" && level != "#" {
			continue
		}
		if !wildcards {
			return invalid(s, "wildcard "+level+" in a message channel")
		}
		if level == "#" && i != len(s)-1 {
			return invalid(s, "'#' must be the last level")
		}
	}
	return nil
}

// Match reports whether channel matches filter under mode. Both must be valid
// (see ValidateChannel and ValidateFilter). It is the reference definition of
// matching, written for clarity; the trie has its own faster walk. Match does
// not allocate.
func Match(filter, channel string, mode Mode) bool {
	if mode == MQTT {
		return matchMQTT(filter, channel)
	}
	return matchEmitter(filter, channel)
}

// nextLevel splits s (a non-empty string ending with '/') into its first level
// and the rest.
func nextLevel(s string) (level, rest string) {
	i := strings.IndexByte(s, '/')
	return s[:i], s[i+1:]
}

func matchEmitter(filter, channel string) bool {
	if strings.HasSuffix(filter, "#/") && (len(filter) == 2 || filter[len(filter)-3] == '/') {
		filter = filter[:len(filter)-2]
	}
	for filter != "" {
		if channel == "" {
			return false
		}
		var fl, cl string
		fl, filter = nextLevel(filter)
		cl, channel = nextLevel(channel)
		if fl != "+" && fl != cl {
			return false
		}
	}
	return true
}

func matchMQTT(filter, channel string) bool {
	if len(filter) >= 2 && (filter[0] == '+' || filter[0] == '#') && filter[1] == '/' &&
		channel != "" && channel[0] == '$' {
		return false
	}
	for filter != "" {
		var fl string
		fl, filter = nextLevel(filter)
		if fl == "#" {
			return true
		}
		if channel == "" {
			return false
		}
		var cl string
		cl, channel = nextLevel(channel)
		if fl != "+" && fl != cl {
			return false
		}
	}
	return channel == ""
}

// LiteralPrefix returns the longest prefix of filter, ending at a level
// boundary, that contains no wildcard level: every channel the filter matches
// (in either mode) starts with it. exact reports that filter has no wildcard.
func LiteralPrefix(filter string) (prefix string, exact bool) {
	start := 0
	for i := 0; i < len(filter); i++ {
		if filter[i] != '/' {
			continue
		}
		if l := filter[start:i]; l == "+" || l == "#" {
			return filter[:start], false
		}
		start = i + 1
	}
	return filter, true
}
