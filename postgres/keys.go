package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd/auth"
)

// KeyStore keeps token signing keys in the signing_keys platform table, so
// every instance shares them. Private parts arrive sealed (auth.SealPrivateKey)
// under a master key that never enters the database.
type KeyStore struct{ db *DB }

// Keys returns the database's signing key store.
func (db *DB) Keys() *KeyStore { return &KeyStore{db: db} }

var _ auth.KeyStore = (*KeyStore)(nil)

// SigningKeys returns every stored key.
func (s *KeyStore) SigningKeys(ctx context.Context) ([]auth.StoredKey, error) {
	var keys []auth.StoredKey
	err := s.db.onPlatform(ctx, Statement{
		SQL: `SELECT kid, alg, public_key, private_sealed, created_at, not_after, active FROM signing_keys`,
		Scan: func(rows pgx.Rows) (err error) {
			keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.StoredKey, error) {
				var k auth.StoredKey
				var notAfter *time.Time
				err := r.Scan(&k.ID, &k.Alg, &k.Public, &k.SealedPrivate, &k.CreatedAt, &notAfter, &k.Active)
				if notAfter != nil {
					k.NotAfter = *notAfter
				}
				return k, err
			})
			return err
		},
	})
	return keys, err
}

// AddSigningKey stores a new, inactive key.
func (s *KeyStore) AddSigningKey(ctx context.Context, k auth.StoredKey) error {
	return s.db.onPlatform(ctx, Statement{
		SQL: `INSERT INTO signing_keys (kid, alg, public_key, private_sealed, created_at, active)
		      VALUES ($1, $2, $3, $4, $5, false)`,
		Args: []any{k.ID, k.Alg, k.Public, k.SealedPrivate, k.CreatedAt},
	})
}

// ActivateSigningKey makes kid the only active key; every other unretired
// key keeps verifying until retireAt. One transaction, one round trip.
func (s *KeyStore) ActivateSigningKey(ctx context.Context, kid string, retireAt time.Time) error {
	return s.db.onPlatform(ctx,
		Statement{SQL: `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`},
		Statement{SQL: `UPDATE signing_keys SET active = false, not_after = $2 WHERE kid <> $1 AND not_after IS NULL`,
			Args: []any{kid, retireAt}},
		Statement{SQL: `UPDATE signing_keys SET active = true, not_after = NULL WHERE kid = $1`, Args: []any{kid}})
}

// DeleteSigningKeys removes keys retired before t.
func (s *KeyStore) DeleteSigningKeys(ctx context.Context, before time.Time) error {
	return s.db.onPlatform(ctx, Statement{SQL: `DELETE FROM signing_keys WHERE not_after < $1`, Args: []any{before}})
}
