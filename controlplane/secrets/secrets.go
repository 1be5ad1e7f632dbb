// Package secrets generates and hashes the control plane's bearer tokens and
// seals connection passwords with AES-GCM.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Token prefixes. They make a leaked token recognisable to secret scanners
// and tell a reader which kind of token is in hand.
const (
	// RegistrationTokenPrefix starts every cluster registration token.
	RegistrationTokenPrefix = "ferry_reg_"
	// JobTokenPrefix starts every job token.
	JobTokenPrefix = "ferry_job_"
)

// tokenBytes is the number of random bytes in a token (256 bits).
const tokenBytes = 32

// KeySize is the size in bytes of the AES-256 key that seals passwords.
const KeySize = 32

// NewToken returns a new random token with the given prefix: the prefix
// followed by 32 random bytes in unpadded base64url.
func NewToken(prefix string) (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to read random bytes for a token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 hash under which a token is stored. Tokens
// carry 256 random bits, so an unsalted fast hash is enough: the hash cannot
// be reversed by guessing.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// TokenHint returns the part of a token that is safe to show in listings:
// its prefix and the first four characters of the random part.
func TokenHint(token string) string {
	cut := len(token)
	for _, p := range []string{RegistrationTokenPrefix, JobTokenPrefix} {
		if strings.HasPrefix(token, p) {
			cut = min(len(p)+4, len(token))
		}
	}
	return token[:cut] + "…"
}

// EqualTokens compares two tokens in constant time with respect to their
// content, by comparing their hashes.
func EqualTokens(a, b string) bool {
	return subtle.ConstantTimeCompare(HashToken(a), HashToken(b)) == 1
}

// NewID returns a random identifier with the given prefix, such as
// "job_" followed by 16 lowercase base32 characters (80 random bits).
func NewID(prefix string) string {
	b := make([]byte, 10)
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Sealer encrypts and decrypts connection passwords with AES-256-GCM.
type Sealer struct {
	aead cipher.AEAD
}

// ParseKey decodes a key given as standard or URL-safe base64, with or
// without padding, and checks that it has KeySize bytes. Errors never
// contain the key.
func ParseKey(encoded string) ([]byte, error) {
	encoded = strings.TrimSpace(encoded)
	if encoded == "" {
		return nil, errors.New("the encryption key is empty; generate one with `controlplane gen-key`")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(encoded)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("the encryption key decodes to %d bytes, want %d; generate one with `controlplane gen-key`", len(key), KeySize)
		}
		return key, nil
	}
	return nil, errors.New("the encryption key is not valid base64; generate one with `controlplane gen-key`")
}

// NewKey returns a new random key in standard base64.
func NewKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("failed to read random bytes for a key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key has %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("failed to create the AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("failed to create the GCM mode: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to context (such as the connection ID, so a
// sealed value copied to another row fails to open) and returns the nonce
// and ciphertext in unpadded base64url. An empty plaintext seals to "".
func (s *Sealer) Seal(plaintext, context string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("failed to read a random nonce: %w", err)
	}
	sealed := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value made by Seal with the same context. It fails when
// the key or the context differ, or the value was altered.
func (s *Sealer) Open(sealed, context string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("sealed value is not base64url: %w", err)
	}
	n := s.aead.NonceSize()
	if len(raw) < n {
		return "", errors.New("sealed value is shorter than its nonce")
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", errors.New("failed to decrypt a sealed value: wrong encryption key or altered data")
	}
	return string(plain), nil
}

// keyCheckPlaintext and keyCheckContext make the key check value: a known
// constant sealed with the key. Opening it proves a key is the one that
// sealed the stored passwords, without storing the key or any password.
const (
	keyCheckPlaintext = "ferry encryption key check v1"
	keyCheckContext   = "ferry key check"
)

// KeyCheck returns a new key check value for the Sealer's key, to store
// next to the sealed passwords and pass to VerifyKeyCheck at later starts.
func (s *Sealer) KeyCheck() (string, error) {
	return s.Seal(keyCheckPlaintext, keyCheckContext)
}

// VerifyKeyCheck returns an error unless check was made by KeyCheck with
// the Sealer's key.
func (s *Sealer) VerifyKeyCheck(check string) error {
	plain, err := s.Open(check, keyCheckContext)
	if err != nil {
		return err
	}
	if plain != keyCheckPlaintext {
		return errors.New("the key check value decrypted to an unexpected constant; the settings table may be corrupt")
	}
	return nil
}
