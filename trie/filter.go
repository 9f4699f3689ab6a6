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

// filter is a validated, parsed filter.
type filter struct {
	group string // share group, "" when not shared
	body  string // the levels after any "$share/<group>/" prefix, trailing '/' removed
	hash  bool   // the last level of body is "#"
	// nlev is the number of levels of body to walk to reach the node that
	// stores the subscription; a trailing "#" is not counted.
	nlev int
}

// parseFilter validates f and splits it into its parts. It does not allocate
// except for the error.
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
	if strings.IndexByte(b, '+') < 0 && strings.IndexByte(b, '#') < 0 {
		p.nlev = strings.Count(b, "/") + 1 // fast path: no wildcard
		return p, nil
	}
	n := 0
	for pos := 0; pos <= len(b); {
		lv, next := nextLevel(b, pos)
		n++
		if strings.IndexByte(lv, '+') >= 0 || strings.IndexByte(lv, '#') >= 0 {
			switch {
			case lv == "+":
			case lv == "#":
				if next <= len(b) {
					return filter{}, &FilterError{Filter: f, Level: offset + n, Reason: `"#" must be the last level`}
				}
				p.hash = true
				n--
			default:
				return filter{}, &FilterError{Filter: f, Level: offset + n, Reason: "wildcard must be a whole level"}
			}
		}
		pos = next
	}
	p.nlev = n
	return p, nil
}
