package topic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldmq/herald/topic"
)

// naive is an independent statement of the matching rules, on split levels.
func naive(filter, channel string, mode topic.Mode) bool {
	f := strings.Split(strings.TrimSuffix(filter, "/"), "/")
	c := strings.Split(strings.TrimSuffix(channel, "/"), "/")
	if mode == topic.Emitter {
		if f[len(f)-1] == "#" {
			f = f[:len(f)-1]
		}
		if len(c) < len(f) {
			return false
		}
		for i := range f {
			if f[i] != "+" && f[i] != c[i] {
				return false
			}
		}
		return true
	}
	if (f[0] == "+" || f[0] == "#") && strings.HasPrefix(c[0], "$") {
		return false
	}
	for i := range f {
		if f[i] == "#" {
			return true
		}
		if i >= len(c) || (f[i] != "+" && f[i] != c[i]) {
			return false
		}
	}
	return len(c) == len(f)
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, channel string
		emitter, mqtt   bool
	}{
		{"a/", "a/", true, true},
		{"a/", "a/b/", true, false},
		{"a/", "a/b/c/", true, false},
		{"a/#/", "a/", true, true},
		{"a/#/", "a/b/c/", true, true},
		{"#/", "$SYS/x/", true, false},
		{"+/x/", "$SYS/x/", true, false},
		{"a/+/c/", "a/b/c/", true, true},
		{"a/+/c/", "a/b/d/", false, false},
		{"a/+/", "a/", false, false},
		{"a/b/", "a/", false, false},
		{"$SYS/#/", "$SYS/x/", true, true},
		{"a//", "a//", true, true},
		{"a/", "a//", true, false},
	} {
		if got := topic.Match(tc.filter, tc.channel, topic.Emitter); got != tc.emitter {
			t.Errorf("Match(%q, %q, Emitter) = %v, want %v", tc.filter, tc.channel, got, tc.emitter)
		}
		if got := topic.Match(tc.filter, tc.channel, topic.MQTT); got != tc.mqtt {
			t.Errorf("Match(%q, %q, MQTT) = %v, want %v", tc.filter, tc.channel, got, tc.mqtt)
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a/", topic.MaxLen/2+1)
	for _, tc := range []struct {
		s               string
		channel, filter bool
	}{
		{"a/b/", true, true},
		{"a//", true, true},
		{"/", true, true},
		{"", false, false},
		{"a/b", false, false},
		{"a\x00/", false, false},
		{"a/+/", false, true},
		{"a/#/", false, true},
		{"#/a/", false, false},
		{"a+/", true, true}, // only whole levels are wildcards
		{long, false, false},
		{long[:topic.MaxLen], true, true},
	} {
		err := topic.ValidateChannel(tc.s)
		if (err == nil) != tc.channel {
			t.Errorf("ValidateChannel(%.20q) = %v, want valid %v", tc.s, err, tc.channel)
		}
		if err != nil && !errors.Is(err, topic.ErrInvalid) {
			t.Errorf("ValidateChannel(%.20q) = %v, not ErrInvalid", tc.s, err)
		}
		err = topic.ValidateFilter(tc.s)
		if (err == nil) != tc.filter {
			t.Errorf("ValidateFilter(%.20q) = %v, want valid %v", tc.s, err, tc.filter)
		}
		var te *topic.Error
		if err != nil && (!errors.As(err, &te) || len(te.Channel) > 64) {
			t.Errorf("ValidateFilter(%.20q) = %v, not an *Error", tc.s, err)
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	for _, tc := range []struct {
		filter, prefix string
		exact          bool
	}{
		{"a/b/", "a/b/", true},
		{"a/+/c/", "a/", false},
		{"#/", "", false},
		{"a/b/#/", "a/b/", false},
	} {
		if p, exact := topic.LiteralPrefix(tc.filter); p != tc.prefix || exact != tc.exact {
			t.Errorf("LiteralPrefix(%q) = %q, %v; want %q, %v", tc.filter, p, exact, tc.prefix, tc.exact)
		}
	}
}

func TestModeString(t *testing.T) {
	if topic.Emitter.String() != "emitter" || topic.MQTT.String() != "mqtt" || topic.Mode(7).String() != "Mode(7)" {
		t.Fatal("Mode.String")
	}
	if !topic.MQTT.Valid() || topic.Mode(2).Valid() {
		t.Fatal("Mode.Valid")
	}
}

// FuzzMatch checks the validators never panic and Match agrees with the naive
// model (and with LiteralPrefix) on every valid pair.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"a/", "a/b/c/"}, {"a/+/", "a/b/"}, {"a/#/", "a/"}, {"+/", "$sys/"}, {"#/", "x/y/"}, {"a//", "a//"},
		{"/", "/"}, {"a/+/c/", "a/b/c/d/"}, {"a/b", "a/b/"}, {"", "a/"}, {"a/#/b/", "a/x/b/"}, {"a/\x00/", "a/"},
		{"ab/", "a/"}, {"+/+/", "a//"}, {"#/", "$SYS/x/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, channel string) {
		ferr, cerr := topic.ValidateFilter(filter), topic.ValidateChannel(channel)
		if ferr != nil || cerr != nil {
			return
		}
		prefix, exact := topic.LiteralPrefix(filter)
		for _, mode := range []topic.Mode{topic.Emitter, topic.MQTT} {
			got := topic.Match(filter, channel, mode)
			if want := naive(filter, channel, mode); got != want {
				t.Fatalf("Match(%q, %q, %v) = %v, naive %v", filter, channel, mode, got, want)
			}
			if got && !strings.HasPrefix(channel, prefix) {
				t.Fatalf("%q matches %q but lacks the literal prefix %q", filter, channel, prefix)
			}
			if exact && mode == topic.MQTT && got != (filter == channel) {
				t.Fatalf("exact filter %q, channel %q: Match %v", filter, channel, got)
			}
			if topic.ValidateChannel(filter) == nil && !topic.Match(filter, filter, mode) {
				t.Fatalf("a channel does not match itself: %q", filter)
			}
		}
	})
}
