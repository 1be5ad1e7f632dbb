package v1alpha1

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"https://ferry.example.com", "https://ferry.example.com"},
		{"http://user:pw@127.0.0.1:18080/x", "http://127.0.0.1:18080/x"},
		{"https://user@ferry.example.com/api?a=b", "https://ferry.example.com/api?a=b"},
		{"https://ferry.example.com/v1@2?next=a@b", "https://ferry.example.com/v1@2?next=a@b"},
		{"http://user:pw@[::1:bad", "http://[::1:bad"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.raw); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestWithoutUserInfo(t *testing.T) {
	if WithoutUserInfo(nil) != nil {
		t.Errorf("WithoutUserInfo(nil) is not nil")
	}

	plain := errors.New("connection refused")
	if got := WithoutUserInfo(plain); got != plain {
		t.Errorf("WithoutUserInfo changed an error without a URL: %v", got)
	}

	transport := &url.Error{Op: "Post", URL: "http://user:***@127.0.0.1:18080/x/v1/join", Err: errors.New("connection refused")}
	err := WithoutUserInfo(fmt.Errorf(`invalid URL "http://user:pw@host:1", then: %w`, transport))
	want := `invalid URL "http://host:1", then: Post "http://127.0.0.1:18080/x/v1/join": connection refused`
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		t.Errorf("redacted error does not unwrap to the *url.Error")
	}
}
