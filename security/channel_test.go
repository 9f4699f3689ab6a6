package security_test

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
	"github.com/stretchr/testify/require"
)

var channelCases = []struct {
	in        string
	path      string
	segments  int
	wildcards int
	opts      map[security.Option]int64
	err       string // substring of the error, "" for success
}{
	{in: "a/b/c/", path: "a/b/c/", segments: 3},
	{in: "a/", path: "a/", segments: 1},
	{in: "a/+/c/", path: "a/+/c/", segments: 3, wildcards: 1},
	{in: "a/#/", path: "a/#/", segments: 2, wildcards: 1},
	{in: "+/", path: "+/", segments: 1, wildcards: 1},
	{in: "$share/g1/a/b/", path: "$share/g1/a/b/", segments: 4},
	{in: "a-b.c:d/[x]^_`/Z9/", path: "a-b.c:d/[x]^_`/Z9/", segments: 3},
	{in: "a/b/c/?ttl=30&last=5", path: "a/b/c/", segments: 3, opts: map[security.Option]int64{security.OptionTTL: 30, security.OptionLast: 5}},
	{in: "a/?me=0", path: "a/", segments: 1, opts: map[security.Option]int64{security.OptionMe: 0}},
	{in: "a/?from=1795305420&until=1795305540", path: "a/", segments: 1, opts: map[security.Option]int64{security.OptionFrom: 1795305420, security.OptionUntil: 1795305540}},
	{in: "a/?ttl=abc&req=1", path: "a/", segments: 1, opts: map[security.Option]int64{}}, // bad value = absent; unknown ignored
	{in: "a/?", path: "a/", segments: 1},
	{in: "a/?ttl=99999999999999999999", path: "a/", segments: 1}, // overflow = absent
	{in: "a/b/c", err: "channel must end with '/' at offset 4"},
	{in: "", err: "empty channel"},
	{in: "/", err: "empty segment in segment 1 at offset 0"},
	{in: "a//b/", err: "empty segment in segment 2 at offset 2"},
	{in: "a/b c/", err: "character ' ' is not allowed in segment 2 at offset 3"},
	{in: "a/b+/", err: "wildcard '+' must be a whole segment in segment 2 at offset 3"},
	{in: "a/#/b/", err: "'#' must be the last segment in segment 2 at offset 2"},
	{in: "a/é/", err: "character 0xc3 is not allowed in segment 2 at offset 2"},
	{in: "a/*/", err: "character '*' is not allowed"},
	{in: "a/?x-y=1", err: "character '-' is not allowed in an option at offset 4"},
	{in: "a/?ttl", err: "is not of the form name=value"},
	{in: "a/?ttl=1&", path: "a/", segments: 1, opts: map[security.Option]int64{security.OptionTTL: 1}}, // Emitter's Python SDK sends these
	{in: "a/?&ttl=2&&last=3&", path: "a/", segments: 1, opts: map[security.Option]int64{security.OptionTTL: 2, security.OptionLast: 3}},
	{in: "a/?&", path: "a/", segments: 1},
	{in: "a/?ttl=1&=", err: "is not of the form name=value"},
	{in: "?ttl=1", err: "empty channel before '?'"},
}

func TestParseChannel(t *testing.T) {
	for _, tc := range channelCases {
		t.Run(tc.in, func(t *testing.T) {
			c, err := security.ParseChannel(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				require.ErrorIs(t, err, topic.ErrInvalid)
				var ce *security.ChannelError
				require.ErrorAs(t, err, &ce)
				require.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.path, c.Path)
			require.Equal(t, tc.segments, c.Segments)
			require.Equal(t, tc.wildcards, c.Wildcards)
			require.Equal(t, tc.wildcards == 0, c.Static())
			require.Empty(t, c.Key)
			for _, o := range []security.Option{security.OptionTTL, security.OptionLast, security.OptionMe, security.OptionFrom, security.OptionUntil} {
				want, ok := tc.opts[o]
				require.Equal(t, ok, c.Options.Has(o), "option %d presence", o)
				if ok {
					got := map[security.Option]int64{security.OptionTTL: c.Options.TTL, security.OptionLast: c.Options.Last,
						security.OptionMe: c.Options.Me, security.OptionFrom: c.Options.From, security.OptionUntil: c.Options.Until}[o]
					require.Equal(t, want, got)
				}
			}
		})
	}
}

func TestParseTopic(t *testing.T) {
	c, err := security.ParseTopic("dNHx8A29u4dsqMuu1ufQ2LR1Rcu1RKI-/a/b/c/?ttl=30")
	require.NoError(t, err)
	require.Equal(t, "dNHx8A29u4dsqMuu1ufQ2LR1Rcu1RKI-", c.Key)
	require.Equal(t, "a/b/c/", c.Path)
	require.True(t, c.Options.Has(security.OptionTTL))
	require.Equal(t, int64(30), c.Options.TTL)

	c, err = security.ParseTopic("emitter/keygen/")
	require.NoError(t, err)
	require.Equal(t, "emitter", c.Key)
	require.Equal(t, "keygen/", c.Path)

	for in, want := range map[string]string{
		"nokey":         "missing '/' after the key",
		"/a/":           "empty key at offset 0",
		"k?x/a/":        "'?' in the key at offset 1",
		"key/a/b c/":    "character ' ' is not allowed in segment 2 at offset 7",
		"key/a/b/c":     "channel must end with '/' at offset 8",
		"key/":          "empty channel at offset 4",
		"key/a/?ttl=1x": "", // value does not parse: absent, still valid
	} {
		_, err := security.ParseTopic(in)
		if want == "" {
			require.NoError(t, err, in)
			continue
		}
		require.ErrorIs(t, err, topic.ErrInvalid, in)
		require.Contains(t, err.Error(), want, in)
	}
}

func TestParseChannelLimits(t *testing.T) {
	long := strings.Repeat("a/", topic.MaxLen/2+1)
	_, err := security.ParseChannel(long)
	require.ErrorIs(t, err, topic.ErrInvalid)
	require.Contains(t, err.Error(), "longer than")
	// The error message is bounded even for huge inputs.
	require.Less(t, len(err.Error()), 300)
}

func TestParseChannelAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = security.ParseChannel("a/b/c/?ttl=30&last=5&me=0")
		_, _ = security.ParseTopic("dNHx8A29u4dsqMuu1ufQ2LR1Rcu1RKI-/a/b/c/?ttl=30")
	})
	require.Zero(t, allocs)
}

// reference is an independent, regexp-based statement of the grammar used to
// cross-check the hand-written parser.
var (
	refSegment = `(?:[\-.0-9:A-Z\[\\\]^_` + "`" + `a-z$]+|\+)`
	refPath    = regexp.MustCompile(`^(?:` + refSegment + `/)*(?:` + refSegment + `/|#/)$`)
	refOpt     = regexp.MustCompile(`^[0-9A-Za-z]+=[0-9A-Za-z]+$`)
)

func referenceParse(s string) (path string, opts map[string]int64, ok bool) {
	path, query, hasQuery := strings.Cut(s, "?")
	if !refPath.MatchString(path) || len(path) > topic.MaxLen {
		return "", nil, false
	}
	opts = map[string]int64{}
	if hasQuery && query != "" {
		for _, kv := range strings.Split(query, "&") {
			if kv == "" {
				continue // empty pairs are skipped, as Emitter does
			}
			if !refOpt.MatchString(kv) {
				return "", nil, false
			}
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ttl", "last", "me", "from", "until":
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					opts[k] = n
				}
			}
		}
	}
	return path, opts, true
}

func FuzzParseChannel(f *testing.F) {
	for _, tc := range channelCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := security.ParseChannel(s)
		path, opts, ok := referenceParse(s)
		if !ok {
			if err == nil {
				t.Fatalf("ParseChannel(%q) accepted what the reference grammar rejects: %+v", s, c)
			}
			if !errors.Is(err, topic.ErrInvalid) {
				t.Fatalf("error does not wrap topic.ErrInvalid: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseChannel(%q) = %v, reference accepts it", s, err)
		}
		if c.Path != path {
			t.Fatalf("path %q, reference %q", c.Path, path)
		}
		if c.Segments != strings.Count(path, "/") {
			t.Fatalf("segments %d for %q", c.Segments, path)
		}
		// Every layer below accepts what the parser accepts.
		if err := topic.ValidateFilter(c.Path); err != nil {
			t.Fatalf("ParseChannel accepts %q, topic.ValidateFilter refuses it: %v", s, err)
		}
		if err := topic.ValidateChannel(c.Path); c.Static() && err != nil {
			t.Fatalf("ParseChannel accepts static %q, topic.ValidateChannel refuses it: %v", s, err)
		}
		got := map[string]int64{}
		for name, o := range map[string]security.Option{"ttl": security.OptionTTL, "last": security.OptionLast, "me": security.OptionMe, "from": security.OptionFrom, "until": security.OptionUntil} {
			if c.Options.Has(o) {
				got[name] = map[security.Option]int64{security.OptionTTL: c.Options.TTL, security.OptionLast: c.Options.Last,
					security.OptionMe: c.Options.Me, security.OptionFrom: c.Options.From, security.OptionUntil: c.Options.Until}[o]
			}
		}
		// With repeated options the last one wins in both.
		require.Equal(t, opts, got, "options of %q", s)
	})
}

func BenchmarkParseChannel(b *testing.B) {
	for _, in := range []string{"a/b/c/", "a/b/c/?ttl=30&last=5", "a/b/c/d/e/f/?ttl=3600&last=100&me=0&from=1795305420&until=1795305540"} {
		b.Run(strconv.Quote(in), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := security.ParseChannel(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("topic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := security.ParseTopic("dNHx8A29u4dsqMuu1ufQ2LR1Rcu1RKI-/a/b/c/?ttl=30&last=5"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
