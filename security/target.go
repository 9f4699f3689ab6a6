package security

import (
	"math/bits"
	"strings"
)

// MaxTargetDepth is the largest number of segments a key target can have.
const MaxTargetDepth = 23

const (
	targetExact = 1 << 23   // bit 23: the key allows exactly the target's depth
	targetFixed = 1<<23 - 1 // bits 22..0: bit 22-i set when segment i is fixed
)

// SetTarget sets the key's target channel, as Emitter's keygen does.
//
// The target is a channel such as "a/b/c/" (only that channel), "a/+/c/"
// ('+' stands for any one segment) or "a/#/" (a/ and every channel below it);
// "#/" allows every channel. It must end with '/'. The trailing '/' is
// trimmed and the rest split into segments; a last segment "#" is dropped and
// makes the key a wildcard key (bit 23 clear), otherwise bit 23 is set. Bit
// 22-i is set for each segment i that is not '+'. The hash is Emitter's
// 32-bit channel hash of the segments joined by '/', '+' segments included
// literally.
//
// SetTarget checks only what the encoding needs: the trailing '/'
// (ErrTargetNoSlash), at most MaxTargetDepth segments (ErrTargetTooDeep), no
// empty segment and '#' only last (ErrInvalidTarget). Check the characters
// with ParseChannel first; Mint and the engine do. Errors are *KeyError
// values carrying Emitter's keygen status. On error k is unchanged.
func (k *Key) SetTarget(target string) error {
	if target == "" || target[len(target)-1] != '/' {
		return &KeyError{Reason: ErrTargetNoSlash, Channel: target}
	}
	path := target[:len(target)-1]
	var bitPath uint32 = targetExact
	switch {
	case path == "#":
		path, bitPath = "", 0
	case strings.HasSuffix(path, "/#"):
		path, bitPath = path[:len(path)-2], 0
		if path == "" {
			return &KeyError{Reason: ErrInvalidTarget, Channel: target}
		}
	case path == "":
		return &KeyError{Reason: ErrInvalidTarget, Channel: target}
	}
	if path != "" {
		i := 0
		for rest := path; ; i++ {
			seg, tail, more := strings.Cut(rest, "/")
			if seg == "" || seg == "#" {
				return &KeyError{Reason: ErrInvalidTarget, Channel: target}
			}
			if i >= MaxTargetDepth {
				return &KeyError{Reason: ErrTargetTooDeep, Channel: target}
			}
			if seg != "+" {
				bitPath |= 1 << (22 - i)
			}
			if !more {
				break
			}
			rest = tail
		}
	}
	k.setTargetBits(bitPath, channelHash(path))
	return nil
}

// ValidateChannel reports whether the key's target allows channel, a channel
// path such as "a/b/c/" or, for a subscription, "a/+/c/" or "a/#/" (anything
// from '?' on is ignored). It does not check permissions or expiry, and it
// does not allocate. The channel is expected to be valid (see ParseChannel);
// for any other string the answer is false or meaningless, never a panic.
//
// It follows Emitter's algorithm (key.go, ValidateChannel):
//   - A key with an empty bit-path is either a "#/" key (hash of ""), which
//     allows every channel, or a legacy key, which allows every channel whose
//     first segment hashes to the target hash.
//   - Otherwise the channel's trailing "#" segment is dropped, a '+' in the
//     channel where the target has a fixed segment is refused, every other
//     non-fixed segment is replaced by '+', and the hash of the result is
//     compared with the target hash. An exact key needs a channel as deep as
//     its target; a wildcard key needs one at least as deep.
//
// Herald fixes one Emitter bug. A bit-path does not record '+' segments after
// the last fixed one, and Emitter hashes only up to the last fixed segment,
// so in Emitter a target such as "a/+/", "a/+/#/" or "+/+/#/" validates no
// channel at all. Here such a key allows what its target says: "a/+/" allows
// "a/x/" and "a/+/"; "a/+/#/" allows "a/x/" and everything below it. Every
// channel Emitter allows is still allowed; the only channels added are those
// these targets describe, because the extra depths are tried only as "/+"
// suffixes hashed against the same target hash.
func (k Key) ValidateChannel(channel string) bool {
	if i := strings.IndexByte(channel, '?'); i >= 0 {
		channel = channel[:i]
	}
	if channel == "" || channel[len(channel)-1] != '/' {
		return false
	}
	path := channel[:len(channel)-1]
	switch {
	case path == "#":
		path = ""
	case strings.HasSuffix(path, "/#"):
		path = path[:len(path)-2]
	}

	want := k.TargetHash()
	bitPath := k.TargetPath()
	if bitPath == 0 {
		if want == hashEmpty {
			return true // "#/": every channel
		}
		first, _, _ := strings.Cut(path, "/")
		if channelHash(first) == want {
			return true // legacy key: any channel under its first segment
		}
		// Herald fix: a wildcard target made only of '+' ("+/#/",
		// "+/+/#/") allows every channel at least that deep.
		h := newHasher()
		for d, n := 0, countSegments(path); d < n && d < MaxTargetDepth; d++ {
			if d == 0 {
				h.writeByte('+')
			} else {
				h.writeString("/+")
			}
			if h.sum() == want {
				return true
			}
		}
		return false
	}

	exact := bitPath&targetExact != 0
	fixed := bitPath & targetFixed
	maxDepth := 0 // segments up to and including the deepest fixed one
	if fixed != 0 {
		maxDepth = MaxTargetDepth - bits.TrailingZeros32(fixed)
	}

	// Hash the channel's first maxDepth segments (all of them for an exact
	// key, whose depth must equal the target's), refusing '+' at a fixed
	// position, and count the segments.
	h := newHasher()
	n := 0
	if path != "" {
		for rest := path; ; n++ {
			seg, tail, more := strings.Cut(rest, "/")
			isFixed := n < MaxTargetDepth && fixed&(1<<(22-n)) != 0
			if seg == "" || isFixed && seg == "+" {
				return false
			}
			if exact || n < maxDepth {
				if n >= MaxTargetDepth {
					return false // deeper than any target
				}
				if n > 0 {
					h.writeByte('/')
				}
				if isFixed {
					h.writeString(seg)
				} else {
					h.writeByte('+')
				}
			}
			if !more {
				break
			}
			rest = tail
		}
		n++
	}
	if n < maxDepth || n == 0 {
		return false
	}
	if exact {
		// Emitter requires n == maxDepth and compares the hash of those
		// segments; when n > maxDepth the extra segments are all '+' and
		// match only a target ending in that many '+' segments.
		return h.sum() == want
	}
	if h.sum() == want {
		return true
	}
	// Wildcard target ending in '+' segments ("a/+/#/"): its depth is
	// between maxDepth and n.
	for d := maxDepth + 1; d <= n && d <= MaxTargetDepth; d++ {
		h.writeString("/+")
		if h.sum() == want {
			return true
		}
	}
	return false
}

// countSegments returns the number of '/'-separated segments in path, 0 for
// "".
func countSegments(path string) int {
	if path == "" {
		return 0
	}
	return strings.Count(path, "/") + 1
}
