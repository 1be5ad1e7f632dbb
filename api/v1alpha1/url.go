package v1alpha1

import (
	"net/url"
	"regexp"
)

// userInfoPattern matches the user information of URLs in free text, such as
// "user:pw@" in "http://user:pw@host/", and the form "user:***@" that
// net/http puts in its errors.
var userInfoPattern = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s"']*@`)

// RedactURL returns raw without its user information, for logs, events and
// messages. The CRD rejects a controlPlaneURL with user information, but an
// object stored before that rule existed may still have one. A URL that does
// not parse has its user information removed as text.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return RedactUserInfo(raw)
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// RedactUserInfo returns text with the user information of every URL in it
// removed, for error messages of libraries that quote the URL they used.
func RedactUserInfo(text string) string {
	return userInfoPattern.ReplaceAllString(text, "$1")
}

// WithoutUserInfo returns err with the user information of URLs removed from
// its message. The result still unwraps to err, so errors.Is and errors.As
// see the original error. It returns nil when err is nil.
func WithoutUserInfo(err error) error {
	if err == nil {
		return nil
	}
	message := RedactUserInfo(err.Error())
	if message == err.Error() {
		return err
	}
	return &redactedError{message: message, err: err}
}

// redactedError is an error whose message had user information removed.
type redactedError struct {
	message string
	err     error
}

func (e *redactedError) Error() string { return e.message }

func (e *redactedError) Unwrap() error { return e.err }
