package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new password hashes: the OWASP minimum
// (m=19 MiB, t=2, p=1). Stored hashes carry their own parameters, so these
// can be raised later; [NeedsRehash] tells when to re-hash at next login.
const (
	ArgonMemoryKiB uint32 = 19 * 1024
	ArgonTime      uint32 = 2
	ArgonThreads   uint8  = 1
	ArgonSaltBytes        = 16
	ArgonKeyBytes         = 32
)

// Each argon2 computation holds ArgonMemoryKiB of memory and a CPU for tens
// of milliseconds. argonSlots bounds how many run at once to half of
// GOMAXPROCS (taken at start-up; at least one): a flood of logins then waits
// instead of growing the heap by 19 MiB per request, and the password
// checks of a flood that gets past the login throttle (from many addresses)
// leave the other CPUs to the tenants' API requests. Callers block until a
// slot is free; the HTTP layer rate-limits logins in front of this.
var argonSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// argonRuns counts argon2 computations, so tests can check that DummyCheck
// does the work of a real check without timing anything.
var argonRuns atomic.Int64

func argon2id(pw []byte, salt []byte, p argonParams) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	argonRuns.Add(1)
	return argon2.IDKey(pw, salt, p.time, p.memory, p.threads, p.keyLen)
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	keyLen       uint32
}

var defaultParams = argonParams{ArgonMemoryKiB, ArgonTime, ArgonThreads, ArgonKeyBytes}

var b64 = base64.RawStdEncoding // PHC strings use unpadded standard base64

// HashPassword returns the PHC string
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> of pw with a random salt.
// Call [ValidatePassword] first when the password is being chosen.
func HashPassword(pw string) (string, error) {
	if len(pw) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, ArgonSaltBytes)
	rand.Read(salt)
	key := argon2id([]byte(pw), salt, defaultParams)
	return encodePHC(defaultParams, salt, key), nil
}

func encodePHC(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether pw matches the stored hash encoded, using the
// parameters stored in it. An error means encoded is not a hash this package
// accepts (a data problem, not a wrong password). Passwords longer than
// MaxPasswordBytes never match and are not hashed (no account can have one).
func CheckPassword(encoded, pw string) (bool, error) {
	p, salt, want, err := decodePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordBytes {
		return false, nil
	}
	got := argon2id([]byte(pw), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash has the current parameters and a fixed salt and hash; no
// password matches it except by chance.
var dummyHash = encodePHC(defaultParams, make([]byte, ArgonSaltBytes), make([]byte, ArgonKeyBytes))

// DummyCheck does the work of a CheckPassword against a hash with the
// current parameters and throws the result away. The login handler calls it
// when the tenant or the user does not exist, so the response time does not
// tell whether an account exists.
func DummyCheck(pw string) {
	_, _ = CheckPassword(dummyHash, pw)
}

// NeedsRehash reports whether encoded was made with other parameters than
// the current ones; the login handler then stores HashPassword(pw) after a
// successful check.
func NeedsRehash(encoded string) bool {
	p, salt, _, err := decodePHC(encoded)
	return err != nil || p != defaultParams || len(salt) != ArgonSaltBytes
}

var errBadHash = errors.New("auth: not an argon2id password hash")

// decodePHC parses an argon2id PHC string. Parameters are bounded so a
// tampered row cannot make a login allocate gigabytes or spin for minutes.
func decodePHC(encoded string) (p argonParams, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, threads) != parts[3] {
		return p, nil, nil, errBadHash
	}
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil {
		return p, nil, nil, errBadHash
	}
	p.threads, p.keyLen = uint8(threads), uint32(len(key))
	switch {
	case threads < 1 || threads > 16,
		p.time < 1 || p.time > 16,
		p.memory < 8*threads || p.memory > 1024*1024, // ≤ 1 GiB
		len(salt) < 8 || len(salt) > 64,
		len(key) < 16 || len(key) > 64:
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", errBadHash)
	}
	return p, salt, key, nil
}
