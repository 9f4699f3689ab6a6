package transport_test

import "github.com/heraldmq/herald/security"

func keySpec(channel, perms string) security.KeySpec {
	return security.KeySpec{Channel: channel, Permissions: security.ParsePermissions(perms)}
}
