package security

import (
	"strconv"
	"strings"

	"github.com/heraldmq/herald/topic"
)

// ChannelError describes why a channel string was rejected: the input, the
// byte offset of the offending character and the (1-based) segment it is in.
// It wraps topic.ErrInvalid, which every layer's channel errors match.
type ChannelError struct {
	Input   string // the string that was parsed
	Offset  int    // byte offset of the problem in Input, or -1
	Segment int    // 1-based segment number of the problem, or 0 when not in a segment
	Reason  string // what is wrong, in words
}

func (e *ChannelError) Error() string {
	var b strings.Builder
	b.WriteString("security: invalid channel ")
	b.WriteString(strconv.Quote(truncate(e.Input, 128)))
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Segment > 0 {
		b.WriteString(" in segment ")
		b.WriteString(strconv.Itoa(e.Segment))
	}
	if e.Offset >= 0 {
		b.WriteString(" at offset ")
		b.WriteString(strconv.Itoa(e.Offset))
	}
	return b.String()
}

// Unwrap returns topic.ErrInvalid.
func (e *ChannelError) Unwrap() error { return topic.ErrInvalid }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Option identifies one of the channel options Emitter defines.
type Option uint8

// The options a channel string can carry after '?'. Unknown options are
// ignored, as Emitter does.
const (
	OptionTTL   Option = 1 << iota // ttl=N: store the message for N seconds
	OptionLast                     // last=N: replay the N newest stored messages
	OptionMe                       // me=0: do not echo a publish to its publisher
	OptionFrom                     // from=T: replay stored messages since unix time T
	OptionUntil                    // until=T: replay stored messages up to unix time T
)

// Options holds the values of the options parsed from a channel string. A
// value that does not parse as a base-10 int64 counts as absent, as in Emitter.
type Options struct {
	TTL   int64 // seconds, meaningful when Has(OptionTTL)
	Last  int64 // message count, meaningful when Has(OptionLast)
	Me    int64 // 0 means no echo, meaningful when Has(OptionMe)
	From  int64 // unix seconds, meaningful when Has(OptionFrom)
	Until int64 // unix seconds, meaningful when Has(OptionUntil)
	set   Option
}

// Has reports whether the option o was present with a valid value.
func (o Options) Has(opt Option) bool { return o.set&opt != 0 }

// Set records value v for option opt.
func (o *Options) Set(opt Option, v int64) {
	switch opt {
	case OptionTTL:
		o.TTL = v
	case OptionLast:
		o.Last = v
	case OptionMe:
		o.Me = v
	case OptionFrom:
		o.From = v
	case OptionUntil:
		o.Until = v
	default:
		return
	}
	o.set |= opt
}

// NoEcho reports whether the options ask not to echo a publish to its
// publisher (me=0).
func (o Options) NoEcho() bool { return o.Has(OptionMe) && o.Me == 0 }

// Channel is a parsed Emitter channel string. All strings are substrings of
// the parsed input: parsing does not allocate.
type Channel struct {
	// Key is the channel key before the first '/', set only by ParseTopic.
	Key string
	// Path is the channel itself, always ending with '/', e.g. "a/b/c/".
	Path string
	// Options holds the options after '?'.
	Options Options
	// Segments is the number of segments in Path.
	Segments int
	// Wildcards is the number of '+' and '#' segments in Path; a channel
	// with none is static and can be published to.
	Wildcards int
}

// Static reports whether the channel has no wildcard segment.
func (c Channel) Static() bool { return c.Wildcards == 0 }

// segment character classes, from Emitter's grammar: bytes 45..58
// ("-./0123456789:"), 65..122 ("A-Z[\]^_`a-z") and 36 ("$"). '/' (47) is in
// the first range but is the separator.
var segmentChar = func() (t [256]bool) {
	for c := 45; c <= 58; c++ {
		t[c] = true
	}
	for c := 65; c <= 122; c++ {
		t[c] = true
	}
	t['$'] = true
	t['/'] = false
	return t
}()

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ParseChannel parses an Emitter channel without a key, such as
// "a/b/c/?ttl=30&last=5". The channel must end with '/'; segments are
// non-empty runs of [-.0-9:A-Z[\]^_`a-z$], or a whole-segment wildcard '+'
// (one level) or '#' (the rest; last segment only). Options are k=v pairs of
// ASCII letters and digits separated by '&'. It returns a *ChannelError that
// names the offending character and segment, and never allocates on success.
func ParseChannel(s string) (Channel, error) {
	var c Channel
	return c, parseChannel(&c, s, 0, s)
}

// ParseTopic parses a topic as Emitter's network clients send it: a key, a
// '/', then a channel with optional options, as in "KEY/a/b/c/?ttl=30". The
// key is everything before the first '/', and must not be empty. Keys are
// not decoded here: see License.DecryptKey.
func ParseTopic(s string) (Channel, error) {
	var c Channel
	i := strings.IndexByte(s, '/')
	switch {
	case i < 0:
		return c, &ChannelError{Input: s, Offset: -1, Reason: "missing '/' after the key"}
	case i == 0:
		return c, &ChannelError{Input: s, Offset: 0, Reason: "empty key"}
	}
	for j := 0; j < i; j++ {
		if s[j] == '?' {
			return c, &ChannelError{Input: s, Offset: j, Reason: "'?' in the key"}
		}
	}
	c.Key = s[:i]
	return c, parseChannel(&c, s[i+1:], i+1, s)
}

// parseChannel parses path[?options] from s, where s starts at offset base of
// the original input full (for error messages).
func parseChannel(c *Channel, s string, base int, full string) error {
	bad := func(off, seg int, reason string) error {
		return &ChannelError{Input: full, Offset: base + off, Segment: seg, Reason: reason}
	}
	if s == "" {
		return bad(0, 0, "empty channel")
	}
	end := strings.IndexByte(s, '?')
	if end < 0 {
		end = len(s)
	}
	path := s[:end]
	if path == "" {
		return bad(0, 0, "empty channel before '?'")
	}
	if path[len(path)-1] != '/' {
		return bad(len(path)-1, 0, "channel must end with '/'")
	}
	if len(path) > topic.MaxLen {
		return bad(topic.MaxLen, 0, "longer than "+strconv.Itoa(topic.MaxLen)+" bytes")
	}
	seg, start := 1, 0
	for i := 0; i < len(path); i++ {
		ch := path[i]
		if ch != '/' {
			continue
		}
		if i == start {
			return bad(i, seg, "empty segment")
		}
		word := path[start:i]
		if word == "+" || word == "#" {
			if word == "#" && i != len(path)-1 {
				return bad(start, seg, "'#' must be the last segment")
			}
			c.Wildcards++
		} else {
			for j := start; j < i; j++ {
				b := path[j]
				if !segmentChar[b] {
					switch b {
					case '+', '#':
						return bad(j, seg, "wildcard '"+string(rune(b))+"' must be a whole segment")
					default:
						return bad(j, seg, "character "+quoteByte(b)+" is not allowed")
					}
				}
			}
		}
		seg++
		start = i + 1
	}
	c.Path = path
	c.Segments = seg - 1
	if end == len(s) {
		return nil
	}
	return parseOptions(&c.Options, s[end+1:], base+end+1, full)
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return strconv.QuoteRune(rune(b))
	}
	return "0x" + strconv.FormatUint(uint64(b), 16)
}

// parseOptions parses "k=v&k=v". Keys and values are ASCII letters and
// digits; any other character makes the whole channel invalid, as in Emitter.
// Empty pairs ("a/?ttl=5&") are skipped, as Emitter skips them.
func parseOptions(o *Options, s string, base int, full string) error {
	bad := func(off int, reason string) error {
		return &ChannelError{Input: full, Offset: base + off, Reason: reason}
	}
	if s == "" {
		return nil // a bare trailing '?' carries no options
	}
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], '&')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		pair := s[start:end]
		if pair == "" { // "a/?ttl=5&", "a/?&": Emitter (and its Python SDK) allow empty pairs
			start = end + 1
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 || eq == len(pair)-1 {
			return bad(start, "option "+strconv.Quote(truncate(pair, 32))+" is not of the form name=value")
		}
		for j := 0; j < len(pair); j++ {
			if j != eq && !isAlnum(pair[j]) {
				return bad(start+j, "character "+quoteByte(pair[j])+" is not allowed in an option")
			}
		}
		var opt Option
		switch pair[:eq] {
		case "ttl":
			opt = OptionTTL
		case "last":
			opt = OptionLast
		case "me":
			opt = OptionMe
		case "from":
			opt = OptionFrom
		case "until":
			opt = OptionUntil
		}
		if opt != 0 {
			if v, err := strconv.ParseInt(pair[eq+1:], 10, 64); err == nil {
				o.Set(opt, v)
			}
		}
		start = end + 1
	}
	return nil
}
