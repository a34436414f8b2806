package auth

import (
	"bytes"
	"errors"
	"testing"
)

// Every instance with the master key derives the same checkpoint key;
// another master key gives another key, and a wrong-sized one none.
func TestCheckpointKey(t *testing.T) {
	t.Parallel()
	master := bytes.Repeat([]byte{7}, MasterKeySize)
	a, err := CheckpointKey(master)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := CheckpointKey(bytes.Clone(master))
	if !a.Equal(b) {
		t.Fatal("the same master key derived two checkpoint keys")
	}
	other, _ := CheckpointKey(bytes.Repeat([]byte{8}, MasterKeySize))
	if a.Equal(other) {
		t.Fatal("two master keys derived the same checkpoint key")
	}
	if _, err := CheckpointKey(master[:16]); !errors.Is(err, ErrConfig) {
		t.Fatalf("a 16-byte master key: %v", err)
	}
}
