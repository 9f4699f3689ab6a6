package security_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

func TestHashConstants(t *testing.T) {
	// Values from Emitter (reference §3.4); h("a") also checked against
	// spaolacci/murmur3 Sum32WithSeed("a", 37) = 3018458049, byte-swapped.
	for in, want := range map[string]uint32{
		"":         1325880984,
		"a":        3238259379,
		"+":        1815237614,
		"#":        4285801373,
		"$share":   1480642916,
		"presence": 3869262148,
		"query":    3939663052,
		"keygen":   548658350,
		"a/b/c":    1472197536,
	} {
		require.Equal(t, want, security.Hash(in), "Hash(%q)", in)
	}
}
