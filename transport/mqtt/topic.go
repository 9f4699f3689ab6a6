package mqtt

import "strings"

// ValidTopicName reports whether s may be the topic of a PUBLISH under plain
// MQTT 3.1.1 rules: a valid non-empty MQTT string without the wildcard
// characters "+" and "#" (MQTT-3.3.2-2, MQTT-4.7.3-1).
func ValidTopicName(s string) bool {
	return len(s) > 0 && ValidString(s) && !strings.ContainsAny(s, "+#")
}

// ValidTopicFilter reports whether s is a valid MQTT 3.1.1 topic filter: a
// valid non-empty MQTT string in which "+" occupies a whole level and "#"
// occupies the whole last level (MQTT-4.7.1-2, MQTT-4.7.1-3).
func ValidTopicFilter(s string) bool {
	if len(s) == 0 || !ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '+':
			if (i > 0 && s[i-1] != '/') || (i+1 < len(s) && s[i+1] != '/') {
				return false
			}
		case '#':
			if (i > 0 && s[i-1] != '/') || i+1 != len(s) {
				return false
			}
		}
	}
	return true
}
