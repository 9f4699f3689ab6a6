package security_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

func TestSetTarget(t *testing.T) {
	// Reference §3.3.
	for _, c := range []struct {
		target string
		path   uint32
		hashOf string
	}{
		{"a/b/c/", 0xF00000, "a/b/c"},
		{"a/#/", 0x400000, "a"},
		{"a/+/c/", 0xD00000, "a/+/c"},
		{"#/", 0x000000, ""},
		{"+/", 0x800000, "+"},
		{"a/+/", 0xC00000, "a/+"},
		{"+/#/", 0x000000, "+"},
		{"$share/g/a/", 0xF00000, "$share/g/a"},
		{strings.Repeat("x/", 23), 0xFFFFFF, strings.Repeat("x/", 22) + "x"},
		{strings.Repeat("x/", 23) + "#/", 0x7FFFFF, strings.Repeat("x/", 22) + "x"},
	} {
		var k security.Key
		require.NoError(t, k.SetTarget(c.target), c.target)
		require.Equal(t, c.path, k.TargetPath(), "%s: bit-path", c.target)
		require.Equal(t, security.Hash(c.hashOf), k.TargetHash(), "%s: hash", c.target)
	}
	require.EqualValues(t, 0x57BFF3A0, security.Hash("a/b/c"))
	require.EqualValues(t, 1325880984, security.Hash(""))
}

func TestSetTargetErrors(t *testing.T) {
	for target, want := range map[string]*security.StatusError{
		"":                                security.ErrStatusTargetNoSlash,
		"a/b/c":                           security.ErrStatusTargetNoSlash,
		"a/#":                             security.ErrStatusTargetNoSlash,
		strings.Repeat("x/", 24):          security.ErrStatusTargetTooDeep,
		"a//":                             security.ErrStatusBadRequest,
		"/":                               security.ErrStatusBadRequest,
		"a/#/b/":                          security.ErrStatusBadRequest,
		strings.Repeat("x/", 100):         security.ErrStatusTargetTooDeep,
		"#/#/":                            security.ErrStatusBadRequest,
		strings.Repeat("x/", 23) + "y/#/": security.ErrStatusTargetTooDeep,
	} {
		var k security.Key
		k.SetSalt(7)
		before := k
		err := k.SetTarget(target)
		require.Error(t, err, target)
		require.Equal(t, before, k, "k unchanged on error")
		var se *security.StatusError
		require.True(t, errors.As(err, &se), target)
		require.Equal(t, want, se, target)
		var ke *security.KeyError
		require.True(t, errors.As(err, &ke))
		require.Equal(t, target, ke.Channel)
	}
}

func keyFor(tb testing.TB, target string) security.Key {
	tb.Helper()
	var k security.Key
	require.NoError(tb, k.SetTarget(target))
	return k
}

func TestValidateChannelEmitter(t *testing.T) {
	// Behaviour of Emitter's ValidateChannel, reference §3.3. Each target
	// lists channels it allows and channels it refuses.
	for _, c := range []struct {
		target string
		allow  []string
		refuse []string
	}{
		{"a/b/c/", []string{"a/b/c/", "a/b/c/#/", "a/b/c/?ttl=5"}, []string{"a/b/c/d/", "a/+/c/", "a/b/", "a/", "a/b/x/", "b/b/c/", "#/", "a/#/", "a/b/+/", "a/b/c"}},
		{"a/#/", []string{"a/", "a/b/", "a/b/c/d/", "a/+/c/", "a/#/", "a/+/", "a/" + strings.Repeat("z/", 40)}, []string{"b/", "+/", "#/", "ab/", "b/a/"}},
		{"a/+/c/", []string{"a/x/c/", "a/+/c/", "a/yy/c/"}, []string{"a/x/d/", "a/x/c/d/", "+/x/c/", "a/x/+/", "a/c/", "b/x/c/"}},
		{"#/", []string{"a/", "$share/g/a/", "a/b/c/d/e/", "+/", "#/", "x/+/#/"}, nil},
		{"+/b/", []string{"z/b/", "+/b/", "a/b/"}, []string{"z/c/", "z/b/c/", "z/", "z/+/"}},
		{"+/", []string{"a/", "x/", "+/"}, []string{"a/b/", "#/"}},
		{"a/b/#/", []string{"a/b/", "a/b/c/", "a/b/#/"}, []string{"a/", "a/c/", "a/+/", "a/#/"}},
		{"$share/g1/a/", []string{"$share/g1/a/"}, []string{"$share/g2/a/", "a/"}},
	} {
		k := keyFor(t, c.target)
		for _, ch := range c.allow {
			require.True(t, k.ValidateChannel(ch), "key %s must allow %s", c.target, ch)
		}
		for _, ch := range c.refuse {
			require.False(t, k.ValidateChannel(ch), "key %s must refuse %s", c.target, ch)
		}
	}
}

// TestValidateChannelPlusQuirkFixed: in Emitter, a target ending in '+'
// segments after a fixed one ("a/+/", "a/+/#/") validates no channel at all
// (SetTarget hashes "a/+", validation hashes only "a"). Herald allows what the
// key's author meant.
func TestValidateChannelPlusQuirkFixed(t *testing.T) {
	k := keyFor(t, "a/+/")
	require.True(t, k.ValidateChannel("a/x/"), "Emitter refuses this; Herald allows it")
	require.True(t, k.ValidateChannel("a/+/"))
	require.False(t, k.ValidateChannel("a/"))
	require.False(t, k.ValidateChannel("a/x/y/"))
	require.False(t, k.ValidateChannel("b/x/"))

	k = keyFor(t, "a/+/#/")
	require.True(t, k.ValidateChannel("a/x/"), "Emitter refuses this; Herald allows it")
	require.True(t, k.ValidateChannel("a/x/y/z/"))
	require.True(t, k.ValidateChannel("a/+/#/"))
	require.False(t, k.ValidateChannel("a/"))
	require.False(t, k.ValidateChannel("b/x/y/"))

	k = keyFor(t, "a/+/+/")
	require.True(t, k.ValidateChannel("a/x/y/"))
	require.False(t, k.ValidateChannel("a/x/"))
	require.False(t, k.ValidateChannel("a/x/y/z/"))

	k = keyFor(t, "+/+/#/") // bit-path 0 like a legacy key
	require.True(t, k.ValidateChannel("a/b/"))
	require.True(t, k.ValidateChannel("a/b/c/"))
	require.False(t, k.ValidateChannel("a/"))
}

func TestValidateChannelLegacy(t *testing.T) {
	// A legacy key has bit-path 0 and the hash of a first segment: it allows
	// every channel under that segment.
	var k security.Key
	k.SetTargetBits(0, security.Hash("chat"))
	require.True(t, k.ValidateChannel("chat/"))
	require.True(t, k.ValidateChannel("chat/room/1/"))
	require.False(t, k.ValidateChannel("chatroom/"))
	require.False(t, k.ValidateChannel("news/chat/"))

	var none security.Key // a master key: no target
	require.False(t, none.ValidateChannel("a/"))
}

func TestValidateChannelGarbage(t *testing.T) {
	for _, target := range []string{"a/b/c/", "a/#/", "#/", "a/+/", "+/"} {
		k := keyFor(t, target)
		for _, ch := range []string{"", "/", "//", "a", "?", "a/b/c", "a//", "/a/"} {
			if target == "#/" {
				continue // "#/" does not look at the channel
			}
			require.False(t, k.ValidateChannel(ch), "%s vs %q", target, ch)
		}
	}
}

// modelAllows is the meaning of a key target written plainly: segments match
// one by one, a '+' in the target matches any segment (including '+'), a
// fixed target segment matches only itself; an exact target needs the same
// depth, a wildcard target ("…/#/") at least its depth. A trailing "#"
// segment of the channel is ignored, as in Emitter.
func modelAllows(target, channel string) bool {
	tp := strings.Split(strings.TrimSuffix(target, "/"), "/")
	wild := tp[len(tp)-1] == "#"
	if wild {
		tp = tp[:len(tp)-1]
	}
	cs := strings.TrimSuffix(channel, "/")
	var cp []string
	if cs != "#" {
		cp = strings.Split(strings.TrimSuffix(cs, "/#"), "/")
	}
	if len(cp) == 0 && !(wild && len(tp) == 0) {
		return false
	}
	if len(cp) < len(tp) || (!wild && len(cp) != len(tp)) {
		return false
	}
	for i, s := range tp {
		if s != "+" && s != cp[i] {
			return false
		}
	}
	return true
}

func randomChannel(r *rand.Rand, maxDepth int, wildcards bool) string {
	segs := []string{"a", "b", "cc", "+"}
	n := 1 + r.IntN(maxDepth)
	var b strings.Builder
	for i := range n {
		s := segs[r.IntN(len(segs))]
		if s == "+" && !wildcards {
			s = "d"
		}
		b.WriteString(s)
		b.WriteByte('/')
		if i == n-1 && wildcards && r.IntN(4) == 0 {
			b.WriteString("#/")
		}
	}
	return b.String()
}

// TestValidateChannelModel compares ValidateChannel with modelAllows on
// random targets and channels. It covers Emitter's behaviour and the fix.
func TestValidateChannelModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		target := randomChannel(r, 5, true)
		channel := randomChannel(r, 6, r.IntN(2) == 0)
		if r.IntN(20) == 0 {
			channel = "#/"
		}
		k := keyFor(t, target)
		require.Equal(t, modelAllows(target, channel), k.ValidateChannel(channel), "key %s, channel %s", target, channel)
	}
}

// emitterValidate is Emitter's ValidateChannel as the reference (§3.3)
// describes it, step by step, with the quirk.
func emitterValidate(k security.Key, channel string) bool {
	path, hash := k.TargetPath(), k.TargetHash()
	trimmed := strings.TrimSuffix(channel, "/")
	if path == 0 {
		first, _, _ := strings.Cut(trimmed, "/")
		return hash == security.Hash("") || hash == security.Hash(first)
	}
	parts := strings.Split(trimmed, "/")
	if parts[len(parts)-1] == "#" {
		parts = parts[:len(parts)-1]
	}
	fixed := func(i int) bool { return i < 23 && path&(1<<(22-i)) != 0 }
	maxDepth := 0
	for i := range 23 {
		if fixed(i) {
			maxDepth = i + 1
		}
	}
	if maxDepth == 0 {
		maxDepth = len(parts)
	}
	exact := path&(1<<23) != 0
	if len(parts) < maxDepth || (exact && len(parts) != maxDepth) {
		return false
	}
	for i, p := range parts {
		if fixed(i) {
			if p == "+" {
				return false
			}
		} else {
			parts[i] = "+"
		}
	}
	return security.Hash(strings.Join(parts[:maxDepth], "/")) == hash
}

// quirkTarget reports whether target ends in '+' segments (before an
// optional "#") after its last fixed segment, or has no fixed segment and
// ends in "#": the targets Emitter validates wrongly.
func quirkTarget(target string) bool {
	tp := strings.Split(strings.TrimSuffix(target, "/"), "/")
	wild := tp[len(tp)-1] == "#"
	if wild {
		tp = tp[:len(tp)-1]
	}
	if len(tp) == 0 || tp[len(tp)-1] != "+" {
		return false
	}
	for _, s := range tp {
		if s != "+" {
			return true // fixed segment before trailing '+'
		}
	}
	return wild // "+/#/", "+/+/#/"
}

// TestValidateChannelSupersetOfEmitter checks that every channel Emitter
// allows is allowed, and that Herald allows more only for the quirk
// targets.
func TestValidateChannelSupersetOfEmitter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	differ := 0
	for range 20000 {
		target := randomChannel(r, 5, true)
		channel := randomChannel(r, 6, r.IntN(2) == 0)
		k := keyFor(t, target)
		em, got := emitterValidate(k, channel), k.ValidateChannel(channel)
		if em {
			require.True(t, got, "Emitter allows key %s on %s", target, channel)
		}
		if got && !em {
			differ++
			require.True(t, quirkTarget(target), "key %s on %s: only quirk targets may differ", target, channel)
		}
	}
	require.NotZero(t, differ, "the random targets include quirk targets")
}
