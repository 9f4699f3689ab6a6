package store

import "strings"

// ValidateChannel reports whether ch is a valid message channel: at most
// MaxChannelLen bytes, ending with '/', without a NUL byte and without a "+"
// or "#" wildcard level. Levels may be empty ("a//" is the levels "a" and "").
// The error is a *ChannelError.
func ValidateChannel(ch string) error {
	return validate(ch, false)
}

// ValidateFilter reports whether filter is a valid query filter: a channel
// that may also have "+" levels and a "#" last level. The error is a
// *ChannelError.
func ValidateFilter(filter string) error {
	return validate(filter, true)
}

func validate(s string, wildcards bool) error {
	switch {
	case s == "":
		return channelError(s, "empty")
	case len(s) > MaxChannelLen:
		return channelError(s, "longer than MaxChannelLen")
	case s[len(s)-1] != '/':
		return channelError(s, "must end with '/'")
	case strings.IndexByte(s, 0) >= 0:
		return channelError(s, "contains a NUL byte")
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
			return channelError(s, "wildcard "+level+" in a message channel")
		}
		if level == "#" && i != len(s)-1 {
			return channelError(s, "'#' must be the last level")
		}
	}
	return nil
}

// Match reports whether channel matches filter under mode. Both must be valid
// (see ValidateChannel and ValidateFilter); Match does not allocate.
func Match(filter, channel string, mode Mode) bool {
	if mode == ModeMQTT {
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

// literalPrefix returns the longest prefix of filter, ending at a level
// boundary, that contains no wildcard level: every channel the filter matches
// (in either mode) starts with it. exact reports that filter has no wildcard.
func literalPrefix(filter string) (prefix string, exact bool) {
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
