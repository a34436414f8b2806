package main

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/tenantd/tenantd/auth"
)

func cmdKeys(ctx context.Context, c *cli, args []string) error {
	return subcommand(ctx, c, "keys", args, map[string]func(context.Context, *cli, []string) error{
		"rotate": cmdKeysRotate,
		"list":   cmdKeysList,
	})
}

// cmdKeysRotate starts a rotation of the token signing key now
// (auth.KeyRing.Rotate): the new key is stored pending, published in the
// JWKS by every instance at its next refresh without signing, and activated
// by the servers once it has been published for auth.DefaultPublishFor.
// With --now it is activated at once instead.
func cmdKeysRotate(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "keys rotate", "keys rotate [--now]")
	now := fs.Bool("now", false, "activate the new key at once instead of after it has been published")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	master, err := masterKey(c, false) // never invent a key the servers do not have
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	ring := &auth.KeyRing{Store: db.Keys(), Master: master}
	rot, err := ring.Rotate(ctx, *now)
	if err != nil {
		return err
	}
	if rot.Added {
		fmt.Fprintf(c.stdout, "added key %s (%s), pending\n", rot.Key.ID, rot.Key.Alg)
	} else {
		fmt.Fprintf(c.stdout, "key %s is already pending since %s\n", rot.Key.ID, rot.Key.CreatedAt.UTC().Format(time.RFC3339))
	}
	if !rot.Activated {
		fmt.Fprintf(c.stdout, "the servers publish it now and sign with it from %s (their first key refresh after that)\n",
			rot.SignsFrom.UTC().Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(c.stdout, "key %s is active; the previous key verifies until %s\n", rot.Key.ID, rot.RetireAt.UTC().Format(time.RFC3339))
	fmt.Fprintln(c.stdout, "note: instances and JWKS caches that have not refreshed yet (up to 30 s for tenantd) reject tokens it signs until they do")
	return nil
}

// keyState describes a stored key for people.
func keyState(k auth.StoredKey, pending *auth.StoredKey) (state string, until time.Time) {
	switch {
	case k.Active:
		return "active", time.Time{}
	case pending != nil && k.ID == pending.ID:
		return "pending", k.CreatedAt.Add(auth.DefaultPublishFor)
	case k.NotAfter.IsZero():
		return "unused", time.Time{} // an older pending key: retired at the next activation
	default:
		return "retired", k.NotAfter
	}
}

// cmdKeysList lists the signing keys, newest first.
func cmdKeysList(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet(c, "keys list", "keys list [--json]")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.close()
	stored, err := db.Keys().SigningKeys(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(stored, func(a, b auth.StoredKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	_, pending := auth.ClassifyKeys(stored)
	type row struct {
		KID       string     `json:"kid"`
		Alg       string     `json:"alg"`
		State     string     `json:"state"`
		CreatedAt time.Time  `json:"created_at"`
		Until     *time.Time `json:"until,omitempty"` // pending: signs from; retired: verifies until
	}
	rows := []row{}
	for _, k := range stored {
		state, until := keyState(k, pending)
		r := row{KID: k.ID, Alg: k.Alg, State: state, CreatedAt: k.CreatedAt.UTC()}
		if !until.IsZero() {
			u := until.UTC()
			r.Until = &u
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return writeJSON(c, rows)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KID\tALG\tSTATE\tCREATED\tUNTIL")
	for _, r := range rows {
		until := ""
		switch {
		case r.Until != nil && r.State == "pending":
			until = "signs from " + r.Until.Format(time.RFC3339)
		case r.Until != nil:
			until = "verifies until " + r.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.KID, r.Alg, r.State, r.CreatedAt.Format(time.RFC3339), until)
	}
	return w.Flush()
}
