package spec

import (
	"fmt"
	"os"
	"strings"
)

// ResolvePassword returns the password from password, the environment
// variable passwordFromEnv or the file passwordFile, whichever is set, or
// "" when none is. Errors name the variable or file, never the value.
func (c Connection) ResolvePassword() (Secret, error) {
	switch {
	case c.PasswordFromEnv != "":
		v, ok := os.LookupEnv(c.PasswordFromEnv)
		if !ok {
			return "", fmt.Errorf("%w: environment variable %s named by passwordFromEnv is not set", errMissingPassword, c.PasswordFromEnv)
		}
		return Secret(v), nil
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("failed to read passwordFile: %w", err)
		}
		v := strings.TrimSuffix(string(b), "\n")
		v = strings.TrimSuffix(v, "\r")
		return Secret(v), nil
	}
	return c.Password, nil
}
