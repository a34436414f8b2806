package auth

import (
	_ "embed"
	"errors"
	"strings"
	"unicode/utf8"
)

// Password length limits (NIST SP 800-63B: a minimum length and a blocklist
// instead of composition rules).
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 256
)

// ValidatePassword errors. Their messages are written to be shown to the
// user (the HTTP layer may capitalise them).
var (
	ErrPasswordTooShort = errors.New("password must be at least 12 characters long")
	ErrPasswordTooLong  = errors.New("password must be at most 256 bytes long")
	ErrPasswordCommon   = errors.New("this password is too common, choose another one")
)

//go:embed common-passwords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]struct{} {
	m := make(map[string]struct{})
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = struct{}{}
		}
	}
	return m
}()

// ValidatePassword checks a password a user is choosing (sign-up, reset,
// change): at least MinPasswordChars characters, at most MaxPasswordBytes
// bytes, and not on the embedded list of common passwords (compared
// case-insensitively). The error, if any, is safe to show to the user.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) > MaxPasswordBytes:
		return ErrPasswordTooLong
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return ErrPasswordTooShort
	}
	if _, common := commonPasswords[strings.ToLower(pw)]; common {
		return ErrPasswordCommon
	}
	return nil
}
