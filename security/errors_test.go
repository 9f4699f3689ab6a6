package security_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
)

func TestStatusErrors(t *testing.T) {
	// Emitter's exact messages (reference §2.4).
	for _, c := range []struct {
		err     *security.StatusError
		status  int
		message string
	}{
		{security.ErrStatusBadRequest, 400, "the request was invalid or cannot be otherwise served"},
		{security.ErrStatusUnauthorized, 401, "the security key provided is not authorized to perform this operation"},
		{security.ErrStatusPaymentRequired, 402, "the request can not be served, as the payment is required to proceed"},
		{security.ErrStatusForbidden, 403, "the request is understood, but it has been refused or access is not allowed"},
		{security.ErrStatusNotFound, 404, "the resource requested does not exist"},
		{security.ErrStatusInternal, 500, "an unexpected condition was encountered and no more specific message is suitable"},
		{security.ErrStatusNotImplemented, 501, "the server either does not recognize the request method, or it lacks the ability to fulfill the request"},
		{security.ErrStatusTargetNoSlash, 400, "channel should end with `/` for strict types or `/#/` for wildcards"},
		{security.ErrStatusTargetTooDeep, 400, "channel can not have more than 23 parts"},
		{security.ErrStatusLinkName, 400, "the link must be an alphanumeric string of 1 or 2 characters"},
		{security.ErrStatusExtendOnly, 401, "the security key with extend permission can only be used for private links"},
	} {
		require.Equal(t, c.status, c.err.Status)
		require.Equal(t, c.message, c.err.Message)
		require.Equal(t, fmt.Sprintf("security: %d %s", c.status, c.message), c.err.Error())
	}

	// errors.Is matches status and message, including on copies.
	wrapped := fmt.Errorf("engine: publish: %w", &security.StatusError{Status: 403, Message: security.ErrStatusForbidden.Message})
	require.ErrorIs(t, wrapped, security.ErrStatusForbidden)
	require.NotErrorIs(t, wrapped, security.ErrStatusBadRequest)
	require.NotErrorIs(t, security.ErrStatusExtendOnly, security.ErrStatusUnauthorized, "same status, other message")
	var se *security.StatusError
	require.True(t, errors.As(wrapped, &se))
	require.Equal(t, 403, se.Status)

	require.Nil(t, security.StatusOf(nil))
	require.Equal(t, security.ErrStatusInternal, security.StatusOf(context.Canceled))
	require.Equal(t, security.ErrStatusForbidden, security.StatusOf(wrapped))
	_, err := security.ParseChannel("a/b")
	require.Equal(t, security.ErrStatusBadRequest, security.StatusOf(err), "an invalid channel is a 400")
}

func TestKeyError(t *testing.T) {
	err := security.NewKeyError(security.ErrKeyBanned)
	require.ErrorIs(t, err, security.ErrKeyBanned)
	require.ErrorIs(t, err, security.ErrStatusUnauthorized)
	require.Equal(t, "security: key is banned", err.Error())
	require.Equal(t, security.ErrStatusUnauthorized, err.Status())

	err = &security.KeyError{Reason: security.ErrChannelDenied, Channel: "a/b/"}
	require.Equal(t, `security: key is not valid for this channel: channel "a/b/"`, err.Error())

	for reason, status := range map[error]*security.StatusError{
		security.ErrInvalidKey:       security.ErrStatusUnauthorized,
		security.ErrKeyExpired:       security.ErrStatusUnauthorized,
		security.ErrWrongContract:    security.ErrStatusUnauthorized,
		security.ErrPermissionDenied: security.ErrStatusUnauthorized,
		security.ErrChannelDenied:    security.ErrStatusUnauthorized,
		security.ErrNotMaster:        security.ErrStatusUnauthorized,
		security.ErrUnknownContract:  security.ErrStatusNotFound,
		security.ErrExtendOnly:       security.ErrStatusExtendOnly,
		security.ErrTargetNoSlash:    security.ErrStatusTargetNoSlash,
		security.ErrTargetTooDeep:    security.ErrStatusTargetTooDeep,
		security.ErrInvalidTarget:    security.ErrStatusBadRequest,
		security.ErrExpiryRange:      security.ErrStatusBadRequest,
		topic.ErrInvalid:             security.ErrStatusBadRequest,
		security.ErrInvalidLicense:   security.ErrStatusInternal,
	} {
		require.Equal(t, status, security.NewKeyError(reason).Status(), "%v", reason)
		require.Equal(t, status, security.StatusOf(fmt.Errorf("x: %w", security.NewKeyError(reason))))
	}
}
