package tenantd

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// ChainPoint is a place in a tenant's audit hash chain: an event's seq and
// hash. Seq 0 with an empty hash is the start of a chain.
type ChainPoint struct {
	Seq  int64
	Hash []byte
}

// Checkpoint kinds.
const (
	// CheckpointHead records a chain's head: the chain must keep that
	// event, unchanged, and grow only beyond it.
	CheckpointHead = "head"
	// CheckpointOrigin records the last event of a purge of a chain's
	// oldest events, signed before the purge: it becomes the chain's new
	// origin, and an origin that no such checkpoint covers was purged out
	// of band.
	CheckpointOrigin = "origin"
)

// Checkpoint is a signed statement, kept outside the database, that a
// tenant's audit chain held the event Seq with hash Hash at time At. It is
// signed with a key derived from the master key, which the database never
// sees, so whoever controls the database can neither forge nor move one:
// a chain that lost its tail, was reset, or was rewritten up to its head
// no longer matches its latest checkpoint.
type Checkpoint struct {
	TenantID uuid.UUID
	Kind     string // CheckpointHead or CheckpointOrigin
	ChainPoint
	At    time.Time
	KeyID string // which key signed it
	Sig   []byte
}

// CheckpointStore keeps signed checkpoints outside the database,
// append-only. The default is a JSONL file (package checkpoint); object
// storage could implement the same two methods.
type CheckpointStore interface {
	// Append adds signed checkpoints at the end of the log; it never
	// changes or removes one.
	Append(ctx context.Context, cps []Checkpoint) error
	// Latest returns the furthest checkpoint (the highest seq) of every
	// tenant and kind. It fails if any stored checkpoint is malformed or
	// its signature does not verify: the log was edited or forged.
	Latest(ctx context.Context) ([]Checkpoint, error)
}
