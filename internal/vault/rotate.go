package vault

import (
	"context"
	"database/sql"
	"fmt"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Rotate rewraps every active subject key that is not under the current
// master-key version, batch keys per transaction (default 100), so that
// kabinet keeps serving meanwhile: each transaction holds the key store's
// writer only for one batch. progress, if not nil, is called after each
// batch with the number rewrapped so far by this call and the number that
// needed it when the call began.
//
// It returns how many keys this call rewrapped. Each rewrap is a
// compare-and-swap on (key_version, not destroyed), so two rotations may
// run at once — from two processes — and each key is rewrapped once, and a
// key destroyed meanwhile stays destroyed. A process that does not yet
// know the new version may still create keys under the old one; check
// KeyVersions, and run Rotate again, before removing the old version.
//
// Keys that cannot be unwrapped (a version missing from the keyring, an
// altered row) are skipped and reported together in the error, after the
// others are rewrapped. The data keys themselves never change, so
// ciphertexts are untouched and cached keys stay valid.
func (v *Vault) Rotate(ctx context.Context, batch int, progress func(done, total int)) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	if err := v.reload(true); err != nil {
		return 0, err
	}
	kr := v.kr.Load()
	cur := kr.current()
	var total int
	if err := v.db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM subject_keys WHERE wrapped IS NOT NULL AND key_version <> $1`, cur.id).Scan(&total); err != nil {
		return 0, fmt.Errorf("vault: rotate: %w", sqldb.Map(err))
	}
	type row struct {
		subject, version string
		wrapped          []byte
	}
	done, failed := 0, 0
	var firstFailure error
	after := "" // keyset cursor: skipped rows are not read again
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		var rows []row
		n := 0
		err := v.db.InTx(ctx, func(tx *sql.Tx) error {
			rows, n = rows[:0], 0
			if err := v.secureDelete(ctx, tx); err != nil {
				return err
			}
			// SKIP LOCKED lets a concurrent rotation on PostgreSQL take the
			// next rows instead of waiting for these.
			rs, err := tx.QueryContext(ctx, `SELECT subject_id, key_version, wrapped FROM subject_keys
				WHERE wrapped IS NOT NULL AND key_version <> $1 AND subject_id > $2
				ORDER BY subject_id LIMIT $3`+v.db.SkipLocked(), cur.id, after, batch)
			if err != nil {
				return err
			}
			for rs.Next() {
				var r row
				if err := rs.Scan(&r.subject, &r.version, &r.wrapped); err != nil {
					rs.Close()
					return err
				}
				rows = append(rows, r)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return err
			}
			now := sqldb.Micros(v.clock())
			var dk [KeySize]byte
			defer clear(dk[:])
			for _, r := range rows {
				mk, ok := kr.master(r.version)
				if !ok {
					failed++
					if firstFailure == nil {
						firstFailure = fmt.Errorf("subject %s: master key version %s is not in the keyring", r.subject, r.version)
					}
					continue
				}
				if err := unwrapKey(mk, r.subject, r.wrapped, &dk); err != nil {
					failed++
					if firstFailure == nil {
						firstFailure = err
					}
					continue
				}
				wrapped, err := wrapKey(cur, r.subject, &dk)
				if err != nil {
					return err
				}
				res, err := tx.ExecContext(ctx, `UPDATE subject_keys SET key_version = $1, wrapped = $2, rotated_at = $3
					WHERE subject_id = $4 AND key_version = $5 AND wrapped IS NOT NULL`,
					cur.id, wrapped, now, r.subject, r.version)
				if err != nil {
					return err
				}
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				n += int(k)
			}
			return nil
		})
		if err != nil {
			return done, fmt.Errorf("vault: rotate: %w", err)
		}
		done += n
		if progress != nil {
			progress(done, total)
		}
		if len(rows) < batch {
			break
		}
		after = rows[len(rows)-1].subject
	}
	if failed > 0 {
		return done, fault.Wrap(fault.Internal, fmt.Errorf("vault: rotate: %d subject key(s) could not be rewrapped; first: %w", failed, firstFailure), "")
	}
	return done, nil
}
