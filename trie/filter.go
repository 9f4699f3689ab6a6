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

// filter is a validated, parsed filter.
type filter struct {
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
func (p *filter) next(i, pos int) (level string, next int) {
	if i < p.nends {
		e := int(p.ends[i])
		return p.body[pos:e], e + 1
	}
	return nextLevel(p.body, pos)
}

// parseFilter validates f and splits it into its parts in one pass over its
// bytes. It does not allocate except for the error.
func parseFilter(f string) (filter, error) {
	if f == "" {
		return filter{}, &FilterError{Filter: f, Reason: "empty filter"}
	}
	b := trimSlash(f)
	offset := 0 // number of levels consumed by a "$share/<group>/" prefix
	var p filter
	if lv, next := nextLevel(b, 0); lv == shareLevel {
		if next > len(b) {
			return filter{}, &FilterError{Filter: f, Level: 2, Reason: "missing share group name"}
		}
		g, after := nextLevel(b, next)
		switch {
		case g == "":
			return filter{}, &FilterError{Filter: f, Level: 2, Reason: "empty share group name"}
		case strings.ContainsAny(g, "+#"):
			return filter{}, &FilterError{Filter: f, Level: 2, Reason: "wildcard in share group name"}
		case after > len(b):
			return filter{}, &FilterError{Filter: f, Level: 3, Reason: "missing filter after share group"}
		}
		p.group = g
		b = b[after:]
		offset = 2
	}
	p.body = b
	wild := strings.IndexByte(b, '+') >= 0 || strings.IndexByte(b, '#') >= 0
	n := 0
	for pos := 0; ; n++ {
		end := len(b)
		if i := strings.IndexByte(b[pos:], '/'); i >= 0 {
			end = pos + i
		}
		if wild { // check level n, b[pos:end]
			switch lv := b[pos:end]; {
			case strings.IndexByte(lv, '+') < 0 && strings.IndexByte(lv, '#') < 0:
			case lv == "+":
			case lv == "#" && end == len(b):
				p.hash = true
			case lv == "#":
				return filter{}, &FilterError{Filter: f, Level: offset + n + 1, Reason: `"#" must be the last level`}
			default:
				return filter{}, &FilterError{Filter: f, Level: offset + n + 1, Reason: "wildcard must be a whole level"}
			}
		}
		if n < maxEnds && end <= 0xffff {
			p.ends[n] = uint16(end)
			p.nends = n + 1
		}
		if end == len(b) {
			n++
			break
		}
		pos = end + 1
	}
	p.nlev = n
	if p.hash {
		p.nlev--
	}
	return p, nil
}
