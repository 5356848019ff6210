// Package sasl is the server side of Kafka's SASL mechanisms PLAIN
// (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677), checking
// credentials stored the way Kafka stores them: salt, iterations, StoredKey
// and ServerKey, never a password.
package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// Mechanism names as clients announce them in SaslHandshake.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism's minIterations and
// the 16384 AlterUserScramCredentials accepts).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// ScramMechanisms are the SCRAM mechanisms credentials are stored for, in
// the order PLAIN prefers them.
var ScramMechanisms = []string{ScramSHA512, ScramSHA256}

// Credential is one user's SCRAM credential for one mechanism.
type Credential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// hashFor returns the hash a SCRAM mechanism is built on.
func hashFor(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, true
	case ScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// IsScram tells whether mechanism is a SCRAM mechanism credentials exist for.
func IsScram(mechanism string) bool {
	_, ok := hashFor(mechanism)
	return ok
}

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802 (PBKDF2
// with the mechanism's HMAC).
func SaltedPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return nil, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	if iterations < 1 {
		return nil, fmt.Errorf("sasl: %d iterations", iterations)
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// FromSaltedPassword derives the stored credential from a salted password,
// which is what AlterUserScramCredentials carries.
func FromSaltedPassword(mechanism string, salt, salted []byte, iterations int) (Credential, error) {
	h, ok := hashFor(mechanism)
	if !ok {
		return Credential{}, fmt.Errorf("sasl: %q is not a SCRAM mechanism", mechanism)
	}
	clientKey := mac(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return Credential{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored.Sum(nil),
		ServerKey:  mac(h, salted, []byte("Server Key")),
	}, nil
}

// NewCredential makes a credential for password with a fresh random salt.
func NewCredential(mechanism, password string, iterations int) (Credential, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return Credential{}, fmt.Errorf("sasl: iterations must be %d..%d, not %d", MinIterations, MaxIterations, iterations)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := SaltedPassword(mechanism, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return FromSaltedPassword(mechanism, salt, salted, iterations)
}

// verifyPassword tells whether password matches the credential, comparing
// the derived StoredKey in constant time.
func verifyPassword(mechanism, password string, c Credential) bool {
	salted, err := SaltedPassword(mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	derived, err := FromSaltedPassword(mechanism, c.Salt, salted, c.Iterations)
	if err != nil {
		return false
	}
	return hmac.Equal(derived.StoredKey, c.StoredKey)
}

func mac(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}
