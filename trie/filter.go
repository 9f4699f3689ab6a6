package trie

import "strings"

// shareLevel is the first level of a share-group filter.
const shareLevel = "$share"

// trimSlash removes the one trailing '/' that may terminate a filter or topic.
func trimSlash(s string) string {
	if n := len(s); n > 0 && s[n-1] == '/' {
		return s[:n-1]
	}
	return s
}

// nextLevel returns the level of b starting at byte pos and the position of
// the level after it. b is a filter or topic without its trailing '/'; it has
// levels while pos <= len(b), so "" has one (empty) level and "a/" has two.
//
// Levels are short, so a plain loop (which the compiler inlines) beats
// strings.IndexByte here.
func nextLevel(b string, pos int) (level string, next int) {
	for i := pos; i < len(b); i++ {
		if b[i] == '/' {
			return b[pos:i], i + 1
		}
	}
	return b[pos:], len(b) + 1
}

// maxEnds is the number of level boundaries a parsed filter records; the
// levels of longer filters are found by scanning.
const maxEnds = 16

// parsedFilter is a validated, parsed filter.
type parsedFilter struct {
	group string // share group, "" when not shared
	body  string // the levels after any "$share/<group>/" prefix, trailing '/' removed
	hash  bool   // the last level of body is "#"
	// nlev is the number of levels of body to walk to reach the node that
	// stores the subscription; a trailing "#" is not counted.
	nlev int
	// ends[i] is the offset in body just past level i, for the first nends
	// levels, so that walks do not scan the filter again.
	nends int
	ends  [maxEnds]uint16
}

// next returns level i of the filter, which starts at byte pos of body, and
// the position of level i+1.
func (p *parsedFilter) next(i, pos int) (level string, next int) {
	if i < p.nends {
		e := int(p.ends[i])
		return p.body[pos:e], e + 1
	}
	return nextLevel(p.body, pos)
}

// parse validates f and fills p, which must be zero, with its parts. It
// does not allocate except for the error.
func (p *parsedFilter) parse(f string) error {
	if f == "" {
		return &FilterError{Filter: f, Reason: "empty filter"}
	}
	b := trimSlash(f)
	offset := 0 // number of levels consumed by a "$share/<group>/" prefix
	if lv, next := nextLevel(b, 0); lv == shareLevel {
		if next > len(b) {
			return &FilterError{Filter: f, Level: 2, Reason: "missing share group name"}
		}
		g, after := nextLevel(b, next)
		switch {
		case g == "":
			return &FilterError{Filter: f, Level: 2, Reason: "empty share group name"}
		case strings.ContainsAny(g, "+#"):
			return &FilterError{Filter: f, Level: 2, Reason: "wildcard in share group name"}
		case after > len(b):
			return &FilterError{Filter: f, Level: 3, Reason: "missing filter after share group"}
		}
		p.group = g
		b = b[after:]
		offset = 2
	}
	p.body = b
	n, wild := scanLevels(b, &p.ends)
	p.nends = min(n, maxEnds)
	if len(b) > 0xffff { // offsets do not fit: scan instead
		p.nends = 0
	}
	p.nlev = n
	if !wild {
		return nil
	}
	for i, pos := 0, 0; pos <= len(b); i++ {
		lv, next := nextLevel(b, pos)
		switch {
		case strings.IndexByte(lv, '+') < 0 && strings.IndexByte(lv, '#') < 0:
		case lv == "+":
		case lv == "#" && next > len(b):
			p.hash = true
			p.nlev--
		case lv == "#":
			return &FilterError{Filter: f, Level: offset + i + 1, Reason: `"#" must be the last level`}
		default:
			return &FilterError{Filter: f, Level: offset + i + 1, Reason: "wildcard must be a whole level"}
		}
		pos = next
	}
	return nil
}

// scanLevels returns the number of levels of b and whether it holds a '+'
// or '#', and records in ends where its first maxEnds levels end. It is a
// small loop on its own so that it compiles tight: filters are short, and
// most of their bytes are letters and digits, above '/'.
func scanLevels(b string, ends *[maxEnds]uint16) (n int, wild bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c > '/' {
			continue
		}
		if c == '/' {
			if n < maxEnds {
				ends[n] = uint16(i)
			}
			n++
		} else if c == '+' || c == '#' {
			wild = true
		}
	}
	if n < maxEnds {
		ends[n] = uint16(len(b))
	}
	return n + 1, wild
}
